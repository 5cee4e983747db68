//! Who may call in: configured trunks, each by source address (CIDR
//! allow-list), by digest credentials (RFC 3261 §22, MD5 with `qop=auth`),
//! or both; and how often one source may send an INVITE. Everything else
//! is answered 403 and nothing more is done.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use serde::Deserialize;
use sha2::Sha256;

/// The realm our challenges name.
pub const REALM: &str = "conclave";
/// How long a nonce we issued is honoured.
const NONCE_LIFETIME: Duration = Duration::from_secs(300);
/// Sources whose INVITE rate is remembered at once.
const MAX_SOURCES: usize = 10_000;

/// A trunk's password: never printed.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct TrunkPassword(String);

impl TrunkPassword {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
}

impl fmt::Debug for TrunkPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TrunkPassword(<redacted>)")
    }
}

/// One SIP trunk or PBX allowed to send calls.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// Shown in logs and metrics.
    pub name: String,
    /// Source addresses (`192.0.2.0/24`, `2001:db8::/32`, `198.51.100.7`);
    /// empty means any address (then credentials are required).
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Digest credentials the trunk must present; none when unset.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<TrunkPassword>,
    /// The trunk vouches for `P-Asserted-Identity`: the caller's number is
    /// taken from it rather than from `From`.
    #[serde(default)]
    pub trusted_identity: bool,
}

/// A parsed address range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not an address or a CIDR range"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?} has a prefix length out of range"))?,
            None => max,
        };
        Ok(Self { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// A trunk ready to check calls against.
#[derive(Debug)]
pub struct Trunk {
    pub name: String,
    /// The trunk's calls share one failure count for wrong codes, as one
    /// gateway connection's do (src/phone/guard.rs).
    pub connection: u64,
    ranges: Vec<Cidr>,
    credentials: Option<(String, TrunkPassword)>,
    pub trusted_identity: bool,
}

impl Trunk {
    pub fn from_config(c: &TrunkConfig) -> Result<Self, String> {
        let ranges = c
            .addresses
            .iter()
            .map(|a| Cidr::parse(a))
            .collect::<Result<Vec<_>, _>>()?;
        let credentials = match (&c.username, &c.password) {
            (Some(u), Some(p)) if !u.is_empty() && !p.0.is_empty() => Some((u.clone(), p.clone())),
            (None, None) => None,
            _ => {
                return Err(format!(
                    "trunk {:?}: username and password go together",
                    c.name
                ))
            }
        };
        if ranges.is_empty() && credentials.is_none() {
            return Err(format!(
                "trunk {:?}: give addresses, credentials or both",
                c.name
            ));
        }
        Ok(Self {
            name: c.name.clone(),
            connection: crate::phone::gateway::next_connection_id(),
            ranges,
            credentials,
            trusted_identity: c.trusted_identity,
        })
    }

    fn admits_address(&self, ip: IpAddr) -> bool {
        self.ranges.is_empty() || self.ranges.iter().any(|r| r.contains(ip))
    }
}

/// How an INVITE's source and credentials fare.
#[derive(Debug)]
pub enum Verdict<'t> {
    Admitted(&'t Trunk),
    /// 401 with a fresh challenge.
    Challenge,
    /// 403: no trunk for this address, or credentials that are wrong.
    Forbidden,
}

impl PartialEq for Verdict<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Verdict::Admitted(a), Verdict::Admitted(b)) => std::ptr::eq(*a, *b),
            (Verdict::Challenge, Verdict::Challenge) | (Verdict::Forbidden, Verdict::Forbidden) => {
                true
            }
            _ => false,
        }
    }
}

/// The digest fields of an `Authorization` header we use.
#[derive(Debug, Clone)]
pub struct DigestAnswer {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub qop: Option<(String, String, String)>, // (qop, nc, cnonce)
}

/// The digest answer in an `Authorization` header, read by `ezk-sip-types`.
pub fn digest_answer(value: &str) -> Option<DigestAnswer> {
    use ezk_sip_types::header::typed::{AuthResponse, QopOption, Username};
    use ezk_sip_types::header::HeaderParse;
    let src = bytes::Bytes::copy_from_slice(value.as_bytes());
    let text = std::str::from_utf8(&src).ok()?;
    let (_, AuthResponse::Digest(d)) = AuthResponse::parse(&src, text).ok()? else {
        return None;
    };
    let username = match d.username {
        Username::Username(u) => u.to_string(),
        Username::UsernameNonASCII(_) => return None,
    };
    let qop = match d.qop_response {
        Some(q) => match q.qop {
            QopOption::Auth => Some((
                "auth".to_owned(),
                format!("{:08x}", q.nc),
                q.cnonce.to_string(),
            )),
            _ => return None,
        },
        None => None,
    };
    Some(DigestAnswer {
        username,
        realm: d.realm.to_string(),
        nonce: d.nonce.to_string(),
        uri: d.uri.to_string(),
        response: d.response.to_string(),
        qop,
    })
}

/// The trunks and the nonce key.
pub struct Trunks {
    trunks: Vec<Trunk>,
    nonce_key: [u8; 32],
}

impl Trunks {
    pub fn new(trunks: Vec<Trunk>) -> Self {
        Self {
            trunks,
            nonce_key: rand::random(),
        }
    }

    pub fn check(
        &self,
        source: IpAddr,
        method: &str,
        answer: Option<&DigestAnswer>,
        now: Instant,
    ) -> Verdict<'_> {
        let candidates: Vec<&Trunk> = self
            .trunks
            .iter()
            .filter(|t| t.admits_address(source))
            .collect();
        if candidates.is_empty() {
            return Verdict::Forbidden;
        }
        if let Some(t) = candidates.iter().find(|t| t.credentials.is_none()) {
            return Verdict::Admitted(t);
        }
        let Some(answer) = answer else {
            return Verdict::Challenge;
        };
        match self.nonce_age(&answer.nonce, source, now) {
            Some(age) if age <= NONCE_LIFETIME => {}
            // Stale or not ours: a fresh challenge, as a retry is owed one.
            _ => return Verdict::Challenge,
        }
        for t in candidates {
            let Some((user, password)) = &t.credentials else {
                continue;
            };
            if answer.username != *user || answer.realm != REALM {
                continue;
            }
            if expected_response(user, &password.0, method, answer)
                .as_bytes()
                .eq_ignore_ascii_case(answer.response.as_bytes())
            {
                return Verdict::Admitted(t);
            }
        }
        Verdict::Forbidden
    }

    /// `WWW-Authenticate`'s value for a new challenge to `source`.
    pub fn challenge(&self, source: IpAddr, now: Instant) -> String {
        format!(
            "Digest realm=\"{REALM}\", nonce=\"{}\", algorithm=MD5, qop=\"auth\"",
            self.nonce(source, now)
        )
    }

    fn nonce(&self, source: IpAddr, now: Instant) -> String {
        let stamp = now.duration_since(*EPOCH).as_secs();
        format!("{stamp:x}.{}", self.nonce_mac(stamp, source))
    }

    fn nonce_mac(&self, stamp: u64, source: IpAddr) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.nonce_key).expect("any key length");
        mac.update(&stamp.to_be_bytes());
        mac.update(source.to_string().as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    fn nonce_age(&self, nonce: &str, source: IpAddr, now: Instant) -> Option<Duration> {
        let (stamp, mac) = nonce.split_once('.')?;
        let stamp = u64::from_str_radix(stamp, 16).ok()?;
        let ours = self.nonce_mac(stamp, source);
        if !crate::crypto::constant_time_eq(ours.as_bytes(), mac.as_bytes()) {
            return None;
        }
        let issued = *EPOCH + Duration::from_secs(stamp);
        Some(now.saturating_duration_since(issued))
    }
}

static EPOCH: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

fn md5_hex(parts: &[&str]) -> String {
    let mut h = Md5::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update(b":");
        }
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

fn expected_response(user: &str, password: &str, method: &str, a: &DigestAnswer) -> String {
    let ha1 = md5_hex(&[user, REALM, password]);
    let ha2 = md5_hex(&[method, &a.uri]);
    match &a.qop {
        Some((qop, nc, cnonce)) => md5_hex(&[&ha1, &a.nonce, nc, cnonce, qop, &ha2]),
        None => md5_hex(&[&ha1, &a.nonce, &ha2]),
    }
}

/// INVITEs each source may send in a minute, and the calls up at once.
pub struct InviteRate {
    per_minute: u32,
    seen: HashMap<IpAddr, (Instant, u32)>,
}

impl InviteRate {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            seen: HashMap::new(),
        }
    }

    /// Counts one INVITE from `source`; false when it is over its rate.
    pub fn allow(&mut self, source: IpAddr, now: Instant) -> bool {
        const WINDOW: Duration = Duration::from_secs(60);
        if self.seen.len() >= MAX_SOURCES && !self.seen.contains_key(&source) {
            self.seen
                .retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
            if self.seen.len() >= MAX_SOURCES {
                return false;
            }
        }
        let entry = self.seen.entry(source).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= self.per_minute
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trunk(addresses: &[&str], creds: Option<(&str, &str)>) -> Trunk {
        Trunk::from_config(&TrunkConfig {
            name: "t".into(),
            addresses: addresses.iter().map(|s| s.to_string()).collect(),
            username: creds.map(|c| c.0.into()),
            password: creds.map(|c| TrunkPassword::new(c.1)),
            trusted_identity: false,
        })
        .unwrap()
    }

    #[test]
    fn ranges_hold_what_they_say() {
        let r = Cidr::parse("192.0.2.0/24").unwrap();
        assert!(r.contains("192.0.2.200".parse().unwrap()));
        assert!(!r.contains("192.0.3.1".parse().unwrap()));
        assert!(r.contains("::ffff:192.0.2.9".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("2001:db8::/32")
            .unwrap()
            .contains("2001:db8:1::5".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.1")
            .unwrap()
            .contains("10.0.0.1".parse().unwrap()));
        assert!(!Cidr::parse("10.0.0.1")
            .unwrap()
            .contains("10.0.0.2".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("example.com").is_err());
    }

    #[test]
    fn an_address_outside_every_trunk_is_forbidden() {
        let t = Trunks::new(vec![trunk(&["127.0.0.0/8"], None)]);
        let now = Instant::now();
        assert!(matches!(
            t.check("127.0.0.1".parse().unwrap(), "INVITE", None, now),
            Verdict::Admitted(_)
        ));
        assert_eq!(
            t.check("192.0.2.1".parse().unwrap(), "INVITE", None, now),
            Verdict::Forbidden
        );
    }

    #[test]
    fn digest_credentials_are_challenged_then_checked() {
        let t = Trunks::new(vec![trunk(&[], Some(("pbx", "s3cret")))]);
        let src: IpAddr = "192.0.2.1".parse().unwrap();
        let now = Instant::now();
        assert_eq!(t.check(src, "INVITE", None, now), Verdict::Challenge);
        let challenge = t.challenge(src, now);
        let nonce = challenge
            .split("nonce=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let mut answer = DigestAnswer {
            username: "pbx".into(),
            realm: REALM.into(),
            nonce: nonce.into(),
            uri: "sip:conclave@192.0.2.2".into(),
            response: String::new(),
            qop: Some(("auth".into(), "00000001".into(), "abc".into())),
        };
        answer.response = expected_response("pbx", "s3cret", "INVITE", &answer);
        assert!(matches!(
            t.check(src, "INVITE", Some(&answer), now),
            Verdict::Admitted(_)
        ));
        // The same answer from another address: its nonce is not theirs.
        assert_eq!(
            t.check("192.0.2.9".parse().unwrap(), "INVITE", Some(&answer), now),
            Verdict::Challenge
        );
        let later = now + NONCE_LIFETIME + Duration::from_secs(1);
        assert_eq!(
            t.check(src, "INVITE", Some(&answer), later),
            Verdict::Challenge
        );
        answer.response = expected_response("pbx", "wrong", "INVITE", &answer);
        assert_eq!(
            t.check(src, "INVITE", Some(&answer), now),
            Verdict::Forbidden
        );
    }

    #[test]
    fn an_authorization_header_is_read() {
        let a = digest_answer(
            r#"Digest username="pbx", realm="conclave", nonce="1.ab", uri="sip:c@h", response="0123", algorithm=MD5, cnonce="xyz", qop=auth, nc=00000001"#,
        )
        .unwrap();
        assert_eq!(a.username, "pbx");
        assert_eq!(
            a.qop,
            Some(("auth".into(), "00000001".into(), "xyz".into()))
        );
        assert!(digest_answer("Basic abc").is_none());
    }

    #[test]
    fn a_source_past_its_rate_is_refused_and_others_are_not() {
        let mut r = InviteRate::new(3);
        let now = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        assert!((0..3).all(|_| r.allow(a, now)));
        assert!(!r.allow(a, now));
        assert!(r.allow("192.0.2.2".parse().unwrap(), now));
        assert!(r.allow(a, now + Duration::from_secs(61)));
    }
}
