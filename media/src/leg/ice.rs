//! ICE-lite for a leg (RFC 8445 §2.5): the server never probes. It answers
//! the binding requests a client sends to its one host candidate, when they
//! name its ufrag and are signed with its password; a valid request's
//! source is an address media may go to.

use std::net::SocketAddr;

use rtc::crypto::RTCCrypto;
use rtc::stun::attributes::{ATTR_USERNAME, ATTR_USE_CANDIDATE};
use rtc::stun::fingerprint::FINGERPRINT;
use rtc::stun::integrity::MessageIntegrity;
use rtc::stun::message::{Message, BINDING_REQUEST, BINDING_SUCCESS};
use rtc::stun::xoraddr::XorMappedAddress;

/// The server's side of the short-term credentials: the ufrag routes a
/// client's first packet to the leg, the password authenticates it.
pub struct Credentials {
    pub ufrag: String,
    pub pwd: String,
}

/// A binding request that passed: the signed response to send back to
/// where it came from, and whether the client nominated that address.
pub struct Binding {
    pub response: Vec<u8>,
    pub nominated: bool,
}

/// Why a STUN message gets no response.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Malformed,
    NotABindingRequest,
    /// USERNAME does not start with this leg's ufrag.
    WrongUser,
    /// MESSAGE-INTEGRITY does not verify with this leg's password.
    WrongSignature,
}

/// Checks a binding request and builds its response.
pub fn answer(
    packet: &[u8],
    from: SocketAddr,
    local: &Credentials,
    crypto: &dyn RTCCrypto,
) -> Result<Binding, Refused> {
    let mut m = Message::new();
    m.unmarshal_binary(packet).map_err(|_| Refused::Malformed)?;
    if m.typ != BINDING_REQUEST {
        return Err(Refused::NotABindingRequest);
    }
    // `<our ufrag>:<theirs>`. Theirs may not be known yet (the answer can
    // arrive after the first checks); the password is what authenticates.
    let username = m.get(ATTR_USERNAME).map_err(|_| Refused::WrongUser)?;
    let ours = username
        .split(|b| *b == b':')
        .next()
        .ok_or(Refused::WrongUser)?;
    if ours != local.ufrag.as_bytes() {
        return Err(Refused::WrongUser);
    }
    MessageIntegrity::check(&mut m, local.pwd.as_bytes(), crypto)
        .map_err(|_| Refused::WrongSignature)?;
    FINGERPRINT.check(&m).map_err(|_| Refused::Malformed)?;
    let nominated = m.contains(ATTR_USE_CANDIDATE);
    let mut out = Message::new();
    out.build(&[
        Box::new(m.clone()),
        Box::new(BINDING_SUCCESS),
        Box::new(XorMappedAddress {
            ip: from.ip(),
            port: from.port(),
        }),
        Box::new(MessageIntegrity::new_short_term_integrity_with_provider(
            local.pwd.clone(),
            crypto,
        )),
        Box::new(FINGERPRINT),
    ])
    .map_err(|_| Refused::Malformed)?;
    Ok(Binding {
        response: out.raw,
        nominated,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rtc::stun::message::Getter;
    use rtc::stun::textattrs::TextAttribute;

    fn credentials() -> Credentials {
        Credentials {
            ufrag: "serverUfrag".into(),
            pwd: "serverPasswordOfEnoughLength1234".into(),
        }
    }

    pub(crate) fn request(username: &str, pwd: &str, nominate: bool) -> Vec<u8> {
        let provider = rtc::crypto::default_provider().unwrap();
        let mut m = Message::new();
        let mut setters: Vec<Box<dyn rtc::stun::message::Setter>> = vec![
            Box::new(BINDING_REQUEST),
            Box::new(rtc::stun::message::TransactionId::new()),
            Box::new(TextAttribute::new(ATTR_USERNAME, username.to_owned())),
        ];
        if nominate {
            setters.push(Box::new(rtc::stun::attributes::RawAttribute {
                typ: ATTR_USE_CANDIDATE,
                value: vec![],
                length: 0,
            }));
        }
        setters.push(Box::new(
            MessageIntegrity::new_short_term_integrity_with_provider(
                pwd.to_owned(),
                provider.crypto(),
            ),
        ));
        setters.push(Box::new(FINGERPRINT));
        m.build(&setters).unwrap();
        m.raw
    }

    fn from() -> SocketAddr {
        "192.0.2.7:50000".parse().unwrap()
    }

    #[test]
    fn a_signed_request_is_answered_with_the_source_address_signed_back() {
        let provider = rtc::crypto::default_provider().unwrap();
        let local = credentials();
        let req = request("serverUfrag:client", &local.pwd, true);
        let b = answer(&req, from(), &local, provider.crypto()).unwrap();
        assert!(b.nominated);

        let mut res = Message::new();
        res.unmarshal_binary(&b.response).unwrap();
        assert_eq!(res.typ, BINDING_SUCCESS);
        let mut sent = Message::new();
        sent.unmarshal_binary(&req).unwrap();
        assert_eq!(res.transaction_id, sent.transaction_id);
        let mut mapped = XorMappedAddress::default();
        mapped.get_from(&res).unwrap();
        assert_eq!(SocketAddr::new(mapped.ip, mapped.port), from());
        MessageIntegrity::check(&mut res, local.pwd.as_bytes(), provider.crypto()).unwrap();

        let plain = request("serverUfrag:client", &local.pwd, false);
        assert!(
            !answer(&plain, from(), &local, provider.crypto())
                .unwrap()
                .nominated
        );
    }

    #[test]
    fn wrong_user_password_or_bytes_get_no_response() {
        let provider = rtc::crypto::default_provider().unwrap();
        let local = credentials();
        let c = provider.crypto();
        let other_user = request("otherUfrag:client", &local.pwd, false);
        assert_eq!(
            answer(&other_user, from(), &local, c).err(),
            Some(Refused::WrongUser)
        );
        // A prefix of our ufrag is not our ufrag.
        let prefix = request("server:client", &local.pwd, false);
        assert_eq!(
            answer(&prefix, from(), &local, c).err(),
            Some(Refused::WrongUser)
        );
        let forged = request("serverUfrag:client", "notThePassword", false);
        assert_eq!(
            answer(&forged, from(), &local, c).err(),
            Some(Refused::WrongSignature)
        );
        let mut garbled = request("serverUfrag:client", &local.pwd, false);
        garbled.truncate(30);
        assert_eq!(
            answer(&garbled, from(), &local, c).err(),
            Some(Refused::Malformed)
        );
        assert_eq!(
            answer(&[0u8; 3], from(), &local, c).err(),
            Some(Refused::Malformed)
        );
    }
}
