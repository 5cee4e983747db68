//! DTLS-SRTP for a leg (RFC 5763, 5764). The offer says `actpass`; the
//! answer picks the role. Either way the leg requires the client's
//! certificate and accepts it only if its SHA-256 matches the fingerprint
//! in the client's answer. The SRTP contexts come from the handshake's
//! keying material.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use rtc::crypto::{HashAlgorithm, RTCCryptoProvider};
use rtc::dtls::config::{ClientAuthType, ConfigBuilder, ExtendedMasterSecretType};
use rtc::dtls::endpoint::{Endpoint, EndpointEvent};
use rtc::dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use rtc::shared::error::{Error, Result};
use rtc::shared::TransportProtocol;
use rtc::srtp::context::Context;
use rtc::srtp::protection_profile::ProtectionProfile;

/// The endpoint keys its associations by address. A leg has one peer,
/// whose address ICE may move, so every datagram goes in under this one.
const PEER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9);

/// Both directions' SRTP contexts.
pub struct Srtp {
    /// Seals the RTP the server sends, under AES-GCM (the profile
    /// browsers pick); under the other profile `local` seals it.
    pub rtp: Option<super::seal::GcmRtp>,
    /// Seals the RTCP the server sends, and its RTP when `rtp` is `None`.
    pub local: Context,
    /// Opens what the client sends (its RTCP), with replay protection.
    pub remote: Context,
}

/// What a datagram did to the handshake.
pub enum Progress {
    Handshaking,
    /// Finished, and these are the keys.
    Keys(Box<Srtp>),
    /// The client sent `close_notify`.
    Closed,
}

pub struct Dtls {
    endpoint: Endpoint,
    provider: Arc<dyn RTCCryptoProvider>,
    /// The server is the DTLS client: the handshake config to connect
    /// with, until it has.
    connect: Option<Arc<rtc::dtls::config::HandshakeConfig>>,
}

impl Dtls {
    /// An association that accepts only a peer certificate whose SHA-256
    /// is `fingerprint` (`AB:CD:…`, any case). `client`: the server
    /// connects ([`Dtls::start`]) rather than waits for a ClientHello.
    pub fn new(
        certificate: rtc::dtls::crypto::Certificate,
        fingerprint: &str,
        client: bool,
        provider: Arc<dyn RTCCryptoProvider>,
    ) -> Result<Self> {
        let expected = fingerprint.to_ascii_lowercase();
        let hasher = provider.clone();
        let config = ConfigBuilder::default()
            .with_crypto_provider(provider.clone())
            .with_certificates(vec![certificate])
            .with_srtp_protection_profiles(vec![
                SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
                SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
            ])
            .with_client_auth(ClientAuthType::RequireAnyClientCert)
            // Self-signed certificates: the fingerprint check below is
            // the verification (RFC 8827 §6.5).
            .with_insecure_skip_verify(true)
            .with_verify_peer_certificate(Some(Arc::new(move |certs: &[Vec<u8>], _| {
                let first = certs.first().ok_or(Error::ErrNonCertificate)?;
                let hash = hasher
                    .crypto()
                    .hash(HashAlgorithm::Sha256, first)
                    .map_err(|e| Error::Crypto(e.to_string()))?;
                if colon_hex(&hash) == expected {
                    Ok(())
                } else {
                    Err(Error::ErrNoMatchingCertificateFingerprint)
                }
            })))
            .with_extended_master_secret(ExtendedMasterSecretType::Require)
            .build(client, None)?;
        let config = Arc::new(config);
        let (server, connect) = if client {
            (None, Some(config))
        } else {
            (Some(config), None)
        };
        Ok(Self {
            endpoint: Endpoint::new(PEER, TransportProtocol::UDP, server),
            provider,
            connect,
        })
    }

    /// Sends the ClientHello, when the leg is the DTLS client and has not
    /// yet; call once ICE has an address to send it to.
    pub fn start(&mut self, now: Instant) -> Result<()> {
        match self.connect.take() {
            Some(config) => self.endpoint.connect(now, PEER, config, None),
            None => Ok(()),
        }
    }

    /// Takes one DTLS datagram from the client.
    pub fn read(&mut self, now: Instant, data: BytesMut) -> Result<Progress> {
        let mut progress = Progress::Handshaking;
        for event in self.endpoint.read(now, PEER, None, data)? {
            match event {
                EndpointEvent::HandshakeComplete => {
                    progress = Progress::Keys(Box::new(self.keys()?));
                }
                EndpointEvent::PeerClosed => return Ok(Progress::Closed),
                // A leg carries no data channel: application data is
                // dropped.
                _ => {}
            }
        }
        Ok(progress)
    }

    fn keys(&self) -> Result<Srtp> {
        let state = self
            .endpoint
            .get_connection_state(PEER)
            .ok_or(Error::ErrNoSuchSrtpProfile)?;
        let profile = match state.srtp_protection_profile() {
            SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm => ProtectionProfile::AeadAes128Gcm,
            SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80 => {
                ProtectionProfile::Aes128CmHmacSha1_80
            }
            _ => return Err(Error::ErrNoSuchSrtpProfile),
        };
        let mut config = rtc::srtp::config::Config {
            profile,
            ..Default::default()
        };
        let material = state.export_keying_material(
            rtc::srtp::config::LABEL_EXTRACTOR_DTLS_SRTP,
            &[],
            config.keying_material_len(),
        )?;
        config.set_session_keys_from_keying_material(material.as_ref(), state.is_client())?;
        let crypto = self.provider.crypto();
        let keys = &config.keys;
        let rtp = match profile {
            ProtectionProfile::AeadAes128Gcm => Some(
                super::seal::GcmRtp::new(crypto, &keys.local_master_key, &keys.local_master_salt)
                    .map_err(|e| Error::Other(e.to_string()))?,
            ),
            _ => None,
        };
        Ok(Srtp {
            rtp,
            local: Context::new(
                &keys.local_master_key,
                &keys.local_master_salt,
                profile,
                None,
                None,
                crypto,
            )?,
            remote: Context::new(
                &keys.remote_master_key,
                &keys.remote_master_salt,
                profile,
                Some(rtc::srtp::option::srtp_replay_protection(64)),
                Some(rtc::srtp::option::srtcp_replay_protection(64)),
                crypto,
            )?,
        })
    }

    /// The next datagram the handshake wants sent.
    pub fn poll_transmit(&mut self) -> Option<BytesMut> {
        self.endpoint.poll_transmit().map(|t| t.message)
    }

    /// When a flight is due again.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.endpoint.poll_timeout(&PEER)
    }

    /// Sends a flight again if it is due. Fails once the handshake has
    /// run out of retransmissions.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<()> {
        self.endpoint.handle_timeout(PEER, now)
    }

    /// Queues `close_notify`.
    pub fn close(&mut self, now: Instant) {
        self.endpoint.stop(now, PEER);
    }
}

/// `ab:cd:…`: a fingerprint as SDP writes it, lower case.
pub fn colon_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}
