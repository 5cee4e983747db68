//! The SIP edge: a user agent server on UDP and TCP that takes calls from
//! configured trunks and seats each caller through the same IVR and
//! [`PhoneLeg`](crate::phone::leg::PhoneLeg) as the gateway WebSocket does;
//! prompts are played as G.711 audio and key presses arrive as RFC 4733
//! events or SIP INFO. Off unless `[sip]` is configured (docs/phone.md).
//!
//! - [`message`]: SIP messages read and written (ezk-sip-types)
//! - [`sdp`]: the caller's offer and our answer
//! - [`trunks`]: who may call in, digest auth, INVITE rates
//! - [`transport`]: the UDP and TCP listeners
//! - [`edge`]: the actor that takes new calls and routes dialogs
//! - [`call`]: the actor that carries one call
//! - [`rtp`], [`g711`], [`prompts`]: the call's audio

pub mod call;
pub mod edge;
pub mod g711;
pub mod message;
pub mod prompts;
pub mod rtp;
pub mod sdp;
pub mod transport;
pub mod trunks;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use actix::Actor;
use actix_web::web;
use serde::Deserialize;

use crate::rooms::Rooms;
use crate::services::Services;

/// `[sip]`: where to listen and who may call.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct SipConfig {
    /// UDP and TCP, the same address and port.
    pub listen: SocketAddr,
    /// The address put in our SDP and Contact; when unset, the listening
    /// address, or (listening on every interface) the local address on
    /// the route to each caller.
    pub public_ip: Option<IpAddr>,
    /// Inclusive UDP port range for RTP (an even port and the next for RTCP).
    pub rtp_port_min: u16,
    pub rtp_port_max: u16,
    /// Calls up at once; more are answered 503.
    pub max_calls: usize,
    /// INVITEs one source address may send in a minute; more are answered 503.
    pub invites_per_minute: u32,
    /// Nothing from the caller's RTP for this long ends the call (`dropped`).
    pub rtp_timeout_secs: u64,
    /// A folder of the operator's own prompt recordings (docs/phone.md).
    pub prompts_dir: Option<PathBuf>,
    pub trunks: Vec<trunks::TrunkConfig>,
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 5060)),
            public_ip: None,
            rtp_port_min: 30000,
            rtp_port_max: 30999,
            max_calls: 500,
            invites_per_minute: 60,
            rtp_timeout_secs: 30,
            prompts_dir: None,
            trunks: Vec::new(),
        }
    }
}

impl SipConfig {
    /// The trunks, once the settings are checked; errors name the
    /// setting, never a credential.
    pub fn trunks(&self) -> Result<Vec<trunks::Trunk>, String> {
        if self.trunks.is_empty() {
            return Err("[sip] needs at least one [[sip.trunks]]".into());
        }
        if self.rtp_port_min > self.rtp_port_max || self.rtp_port_max - self.rtp_port_min < 1 {
            return Err("[sip] rtp_port_min..rtp_port_max must hold at least one pair".into());
        }
        if self.rtp_timeout_secs == 0 || self.max_calls == 0 {
            return Err("[sip] rtp_timeout_secs and max_calls must be positive".into());
        }
        self.trunks.iter().map(trunks::Trunk::from_config).collect()
    }
}

/// Why the edge did not start.
#[derive(Debug, thiserror::Error)]
pub enum SipError {
    #[error("sip: {0}")]
    Config(String),
    #[error("sip: cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    #[error("sip: {0}")]
    Prompts(#[from] prompts::PromptError),
}

/// Binds the listeners and starts the edge; it hangs every call up when
/// `shutdown` turns true.
pub async fn start(
    config: &SipConfig,
    services: web::Data<Services>,
    rooms: web::Data<Rooms>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<actix::Addr<edge::SipEdge>, SipError> {
    let trunks = config.trunks().map_err(SipError::Config)?;
    let prompts = prompts::Prompts::load(config.prompts_dir.as_deref())?;
    let udp = tokio::net::UdpSocket::bind(config.listen)
        .await
        .map_err(|e| SipError::Listen(config.listen, e))?;
    let tcp = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| SipError::Listen(config.listen, e))?;
    let udp = Arc::new(udp);
    let edge = edge::SipEdge::new(
        config.clone(),
        trunks::Trunks::new(trunks),
        prompts,
        services,
        rooms,
        udp.local_addr()
            .map_err(|e| SipError::Listen(config.listen, e))?,
    )
    .start();
    let tasks = [
        actix_web::rt::spawn(transport::serve_udp(udp, edge.clone())),
        actix_web::rt::spawn(transport::serve_tcp(tcp, edge.clone())),
    ];
    let on_shutdown = edge.clone();
    let mut shutdown = shutdown;
    actix_web::rt::spawn(async move {
        let _ = shutdown.wait_for(|s| *s).await;
        let _ = on_shutdown.send(edge::ShutDown).await;
        for t in tasks {
            t.abort();
        }
    });
    tracing::info!(listen = %config.listen, trunks = config.trunks.len(), "SIP edge listening");
    Ok(edge)
}
