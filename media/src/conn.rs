//! The server's end of a publish connection, on the sans-IO `rtc` core: an
//! ICE-lite agent (the server never probes; clients' binding requests find
//! it) with a ufrag of its own, which is how the shared socket routes a
//! client's first packet to it, and one host candidate: the media port at
//! the announced address. Every connection of the plane presents the same
//! DTLS certificate (made for the first), as an SFU's one endpoint does: a
//! certificate per connection cost a key generation and its memory each.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use rtc::ice::tcp_type::TcpType;
use rtc::peer_connection::certificate::{CertificateParams, RTCCertificate};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::transport::{CandidateConfig, CandidateHostConfig, RTCIceCandidate};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::shared::error::Result;

use crate::peer::{media_engine, receiving_interceptors};

/// A random string of `n` ICE characters (RFC 8445 §5.3: ALPHA / DIGIT).
fn ice_chars(n: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for b in uuid::Uuid::new_v4().as_bytes() {
            if out.len() < n {
                out.push(CHARS[usize::from(*b) % CHARS.len()] as char);
            }
        }
    }
    out
}

/// The plane's DTLS certificate, made for the first connection.
#[derive(Default)]
pub struct Certificate(Mutex<Option<RTCCertificate>>);

impl Certificate {
    /// The certificate to present; a fresh one when there is none yet or
    /// the one kept expires within a day. (Public for the fuzz targets.)
    #[doc(hidden)]
    pub fn current(&self) -> Result<RTCCertificate> {
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let soon = SystemTime::now() + Duration::from_secs(24 * 3600);
        if let Some(c) = guard.as_ref().filter(|c| c.expires > soon) {
            return Ok(c.clone());
        }
        let provider = rtc::crypto::default_provider()
            .map_err(|e| rtc::shared::error::Error::Other(e.to_string()))?;
        let params = CertificateParams::new(vec!["conclave".to_owned()])
            .map_err(|e| rtc::shared::error::Error::Other(e.to_string()))?;
        let fresh = RTCCertificate::generate(
            provider.crypto(),
            rtc::crypto::SignatureScheme::EcdsaP256Sha256,
            params,
        )?;
        *guard = Some(fresh.clone());
        Ok(fresh)
    }
}

/// A random 32-bit number, from the generator the ufrags use.
pub(crate) fn random_u32() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32
}

/// A connection's ICE ufrag and password. 16 characters of 62 for the
/// ufrag: collisions between live connections are out of reach; the
/// password is what authenticates.
pub fn credentials() -> (String, String) {
    (ice_chars(16), ice_chars(32))
}

/// A new publish connection (the server receives) and its ICE ufrag.
/// Subscribe connections are the server's own ([`crate::leg`]).
pub fn build(
    announced: crate::socket::Announced,
    certificate: &Certificate,
) -> Result<(RTCPeerConnection, String)> {
    let (ufrag, pwd) = credentials();
    let mut engine = media_engine()?;
    let registry = receiving_interceptors(&mut engine)?;
    let settings = SettingEngineBuilder::new()
        .with_lite(true)
        // The engine is this connection's own already: no second copy.
        .with_disable_media_engine_copy(true)
        .with_ice_credentials(ufrag.clone(), pwd)
        .build();
    let configuration = RTCConfigurationBuilder::new()
        .with_certificates(vec![certificate.current()?])
        .build();
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_configuration(configuration)
        .with_media_engine(engine)
        .with_setting_engine(settings)
        .with_interceptor_registry(registry)
        .build(Instant::now())?;
    let host = |network: &str, at: SocketAddr, tcp_type| {
        CandidateHostConfig {
            base_config: CandidateConfig {
                network: network.to_owned(),
                address: at.ip().to_string(),
                port: at.port(),
                component: 1,
                ..Default::default()
            },
            tcp_type,
        }
        .new_candidate_host()
    };
    let udp = host("udp", announced.udp, TcpType::Unspecified)?;
    pc.add_local_candidate(RTCIceCandidate::from(&udp).to_json()?)?;
    if let Some(at) = announced.tcp {
        let tcp = host("tcp", at, TcpType::Passive)?;
        pc.add_local_candidate(RTCIceCandidate::from(&tcp).to_json()?)?;
    }
    // The only candidates there will be: gathering is complete.
    pc.add_local_candidate(Default::default())?;
    Ok((pc, ufrag))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ufrags_are_ice_characters_of_the_asked_length() {
        let a = super::ice_chars(16);
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, super::ice_chars(16));
    }

    #[test]
    fn connections_share_the_planes_certificate() {
        let at = crate::socket::Announced {
            udp: std::net::SocketAddr::from(([127, 0, 0, 1], 40000)),
            tcp: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 40000))),
        };
        let shared = super::Certificate::default();
        let (_, ua) = super::build(at, &shared).unwrap();
        let first = shared.current().unwrap();
        let (_, ub) = super::build(at, &shared).unwrap();
        assert_ne!(ua, ub, "each connection has its own ufrag");
        assert!(shared.current().unwrap() == first, "made once, then kept");
        let other = super::Certificate::default();
        assert!(
            other.current().unwrap() != first,
            "another plane makes its own"
        );
    }
}
