//! The server's end of one peer connection, on the sans-IO `rtc` core: an
//! ICE-lite agent (the server never probes; clients' binding requests find
//! it) with a ufrag of its own, which is how the shared socket routes a
//! client's first packet to it, and one host candidate: the media port at
//! the announced address.

use std::net::SocketAddr;
use std::time::Instant;

use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::transport::{CandidateConfig, CandidateHostConfig, RTCIceCandidate};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::shared::error::Result;

use crate::peer::{interceptors, media_engine};

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

/// A new server connection and its ICE ufrag.
pub fn build(announced: SocketAddr) -> Result<(RTCPeerConnection, String)> {
    // 16 characters of 62: collisions between live connections are out of
    // reach; the password is what authenticates.
    let ufrag = ice_chars(16);
    let mut engine = media_engine()?;
    let registry = interceptors(&mut engine)?;
    let settings = SettingEngineBuilder::new()
        .with_lite(true)
        .with_ice_credentials(ufrag.clone(), ice_chars(32))
        .build();
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(engine)
        .with_setting_engine(settings)
        .with_interceptor_registry(registry)
        .build(Instant::now())?;
    let host = CandidateHostConfig {
        base_config: CandidateConfig {
            network: "udp".to_owned(),
            address: announced.ip().to_string(),
            port: announced.port(),
            component: 1,
            ..Default::default()
        },
        ..Default::default()
    }
    .new_candidate_host()?;
    pc.add_local_candidate(RTCIceCandidate::from(&host).to_json()?)?;
    // The only candidate there will be: gathering is complete.
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
}
