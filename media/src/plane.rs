//! The media plane of one server: its own tokio runtime (threads named
//! `conclave-media`), the one UDP socket every connection shares, the
//! configuration, and the counters. Rooms start their forwarders from it
//! through [`MediaFactory`].

use std::sync::Arc;

use conclave_actors::media::{FromMedia, MediaFactory, MediaPort};
use conclave_actors::{ConferenceId, SessionId};

use crate::config::MediaConfig;
use crate::forwarder::ForwarderHandle;
use crate::published::Counters;
use crate::socket::MediaSocket;

/// What every forwarder of the plane shares.
pub struct Shared {
    pub config: MediaConfig,
    pub socket: Arc<MediaSocket>,
    /// The DTLS certificate every connection presents.
    pub certificate: crate::conn::Certificate,
    pub counters: Arc<Counters>,
    pub runtime: tokio::runtime::Handle,
}

/// Owns the runtime; shut down in the background when the plane goes, so
/// dropping it inside another runtime never blocks.
struct Runtime(Option<tokio::runtime::Runtime>);

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

#[derive(Clone)]
pub struct MediaPlane {
    shared: Arc<Shared>,
    _runtime: Arc<Runtime>,
}

impl MediaPlane {
    pub fn new(config: MediaConfig) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.threads.max(1))
            .thread_name("conclave-media")
            .enable_all()
            .build()?;
        let socket = {
            let _inside = runtime.enter();
            MediaSocket::bind(
                config.bind_ip,
                config.port_min,
                config.port_max,
                config.public_ip,
                config.tcp,
            )?
        };
        runtime.spawn(socket.clone().run_reader());
        runtime.spawn(crate::tcp::run_listener(socket.clone()));
        tracing::info!(
            port = socket.announced.port(),
            tcp_port = socket.tcp.as_ref().map(|t| t.announced.port()),
            "media socket bound"
        );
        let shared = Arc::new(Shared {
            socket,
            certificate: Default::default(),
            counters: Arc::new(Counters::default()),
            runtime: runtime.handle().clone(),
            config,
        });
        Ok(Self {
            shared,
            _runtime: Arc::new(Runtime(Some(runtime))),
        })
    }

    #[cfg(test)]
    pub(crate) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    pub fn config(&self) -> &MediaConfig {
        &self.shared.config
    }

    /// The media port's address as candidates announce it.
    pub fn announced(&self) -> std::net::SocketAddr {
        self.shared.socket.announced
    }

    /// The addresses the server's candidates announce, UDP and TCP.
    pub fn candidates(&self) -> crate::socket::Announced {
        self.shared.socket.candidates()
    }

    /// The ICE-TCP port's connections open now, frames dropped on full
    /// queues, and connections refused at the cap.
    pub fn tcp_counts(&self) -> Option<(usize, u64, u64)> {
        use std::sync::atomic::Ordering::Relaxed;
        self.shared
            .socket
            .tcp
            .as_ref()
            .map(|t| (t.open(), t.dropped.load(Relaxed), t.refused.load(Relaxed)))
    }

    /// Packets received, forwarded, dropped as repeats and held back, over
    /// the plane's life.
    pub fn counters(&self) -> Arc<Counters> {
        self.shared.counters.clone()
    }
}

impl MediaFactory for MediaPlane {
    fn start(
        &self,
        conference: ConferenceId,
        session: SessionId,
        events: actix::Recipient<FromMedia>,
    ) -> Box<dyn MediaPort> {
        Box::new(ForwarderHandle::spawn(
            self.shared.clone(),
            conference,
            session,
            events,
        ))
    }
}
