//! The media plane of one server: its own tokio runtime (threads named
//! `conclave-media`), the shared configuration and port cursor, and the
//! counters. Rooms start their forwarders from it through
//! [`MediaFactory`].

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use conclave_actors::media::{FromMedia, MediaFactory, MediaPort};
use conclave_actors::{ConferenceId, SessionId};

use crate::config::MediaConfig;
use crate::forwarder::ForwarderHandle;
use crate::published::Counters;

/// What every forwarder of the plane shares.
pub struct Shared {
    pub config: MediaConfig,
    port: AtomicU32,
    pub counters: Arc<Counters>,
    pub runtime: tokio::runtime::Handle,
}

impl Shared {
    /// The next port of the range to try, round robin.
    pub fn next_port(&self) -> u16 {
        let min = u32::from(self.config.port_min);
        let span = u32::from(self.config.port_max.max(self.config.port_min)) - min + 1;
        (min + self.port.fetch_add(1, Ordering::Relaxed) % span) as u16
    }
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
        let shared = Arc::new(Shared {
            port: AtomicU32::new(0),
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
