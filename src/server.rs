//! Starting and stopping the server. [`run`] is what `main` and the tests
//! call: it opens the store (applying migrations), loads the secrets, serves
//! on the given listener until `shutdown` resolves, then drains in-flight
//! requests.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::Service;
use actix_web::{web, App, HttpServer};
use futures_util::FutureExt;

use actix::Actor;
use conclave_actors::registry::{CloseAll, Registry};
use conclave_actors::room_state::RoomSettings;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::documents::DocumentFiles;
use crate::persist::PersistSink;
use crate::room_sink::ServerSink;
use crate::rooms::Rooms;
use crate::secrets::ServerSecrets;
use crate::services::Services;
use crate::store::{self, StoreError};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// PostgreSQL refused the start, and why ([`crate::database_error`]).
    #[error("database: {0}")]
    Database(String),
    #[error("secrets: {0}")]
    Secrets(std::io::Error),
    #[error("{0}")]
    Keys(#[from] crate::key_rotation::KeyError),
    #[error("node id: {0}")]
    Node(std::io::Error),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Sip(#[from] crate::sip::SipError),
}

/// Serves on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + 'static,
) -> Result<(), RunError> {
    run_with_clock(listener, config, Arc::new(SystemClock), shutdown).await
}

/// [`run`] with a chosen clock, for tests that move time.
pub async fn run_with_clock(
    listener: TcpListener,
    config: Config,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()> + 'static,
) -> Result<(), RunError> {
    let services = web::Data::new(build_services(&config, clock.clone()).await?);
    let node = crate::node::node_id(&config.data_dir).map_err(RunError::Node)?;
    crate::node::recover(&services.store, node, &*clock).await?;
    let heartbeat = crate::node::keep_alive(services.store.clone(), node, clock.clone());
    let store = services.store.clone();
    let sink = PersistSink::start(
        services.store.clone(),
        services.summary_keys.clone(),
        config.persistence.max_pending_events,
        services.metrics.clone(),
        node,
    );
    let dispatcher = config.webhooks.enabled.then(|| {
        crate::webhooks::dispatcher::Dispatcher::new(
            services.store.clone(),
            services.secrets.encryption_key.clone(),
            clock.clone(),
            config.webhooks.settings(),
        )
        .start()
    });
    let files = Arc::new(DocumentFiles::new(
        &config.data_dir,
        config.max_document_bytes,
    ));
    let room_sink = Arc::new(ServerSink::new(sink.clone(), files.clone()));
    let room_clock = clock.clone();
    let media = if config.media.enabled {
        let m = &config.media;
        Some(conclave_media::MediaPlane::new(
            conclave_media::MediaConfig {
                bind_ip: m.bind_ip,
                port_min: m.port_min,
                port_max: m.port_max,
                public_ip: m.public_ip,
                tcp: match (m.tcp, m.tcp_port) {
                    (false, _) => conclave_media::socket::TcpChoice::Off,
                    (true, None) => conclave_media::socket::TcpChoice::SameAsUdp,
                    (true, Some(p)) => conclave_media::socket::TcpChoice::Port(p),
                },
                adapt_to_bandwidth: m.adapt_to_bandwidth,
                ice_servers: m.ice_servers.clone(),
                threads: m.threads,
                recordings_dir: config.data_dir.join("recordings"),
                recording_keys: {
                    let keys = services.summary_keys.clone();
                    conclave_media::config::RecordingKeys::Sealed(Arc::new(move |session| {
                        keys.live(session).map(|k| *k.expose())
                    }))
                },
            },
        )?)
    } else {
        None
    };
    let mut registry = Registry::new(
        RoomSettings {
            peer_to_peer: config.media.peer_to_peer,
            max_waiting: config.waiting_room.max_waiting,
            max_waiting_per_origin: config.waiting_room.max_waiting_per_address,
            deny_cooldown_ms: i64::try_from(config.waiting_room.deny_cooldown_secs)
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000),
            max_wait_ms: i64::try_from(config.waiting_room.max_wait_secs)
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000),
            ..RoomSettings::default()
        },
        room_sink,
        Arc::new(move || room_clock.now().timestamp_millis()),
    );
    if let Some(plane) = &media {
        registry = registry.with_media(Arc::new(plane.clone()));
        services.metrics.media_from(plane.counters());
        let tcp = plane.clone();
        services
            .metrics
            .tcp_from(Box::new(move || tcp.tcp_counts()));
    }
    let rooms = registry.start();
    let addr = listener.local_addr()?;
    let (shutting_down, shutdown_seen) = tokio::sync::watch::channel(false);
    let ws_rooms = web::Data::new(Rooms {
        registry: rooms.clone(),
        origins: config.websocket_origins(addr),
        tickets: crate::ws::resume::ResumeTickets::default(),
        persistence: sink.clone(),
        ack_wait: Duration::from_secs(config.persistence.durable_ack_wait_secs),
        max_wait: Duration::from_secs(config.waiting_room.max_wait_secs),
        files,
        names: services.secrets.encryption_key.clone(),
        gateway_secret: config.gateway_secret.clone(),
        media,
        recordings: config.data_dir.join("recordings"),
        spool: config.data_dir.join("spool"),
        turn: config.media.turn.clone(),
        secure_cookies: config
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://")),
        shutdown: shutdown_seen.clone(),
    });
    let retention = crate::retention::spawn(
        services.clone(),
        ws_rooms.clone(),
        Duration::from_secs(config.retention.interval_secs),
    );
    if let Some(sip) = &config.sip {
        crate::sip::start(sip, services.clone(), ws_rooms.clone(), shutdown_seen).await?;
    }
    let send_buffer = config.tcp_send_buffer_bytes;
    let workers = config
        .http_workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(services.clone())
            .app_data(ws_rooms.clone())
            .wrap(crate::http::problem_bodies())
            .wrap_fn(|req, srv| {
                let services = req.app_data::<web::Data<Services>>().cloned();
                let (method, path) = (req.method().clone(), req.path().to_owned());
                let started = Instant::now();
                srv.call(req).map(move |res| {
                    if let (Ok(res), Some(services)) = (&res, services) {
                        let status = res.status().as_u16();
                        services.metrics.http(status);
                        tracing::debug!(%method, %path, status, elapsed_us = started.elapsed().as_micros() as u64, "request");
                    }
                    res
                })
            })
            .configure(crate::http::configure)
            .service(web::resource("/ws").route(web::get().to(crate::ws::session::endpoint)))
            .service(web::resource("/gateway").route(web::get().to(crate::phone::gateway::endpoint)))
            .default_service(web::to(crate::http::not_found))
    })
    .workers(workers)
    .on_connect(move |io, _| {
        if let (Some(bytes), Some(tcp)) = (send_buffer, io.downcast_ref::<actix_web::rt::net::TcpStream>()) {
            if let Err(e) = socket2::SockRef::from(tcp).set_send_buffer_size(bytes) {
                tracing::warn!(error = %e, "cannot set the connection's send buffer");
            }
        }
    })
    .disable_signals()
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        shutdown.await;
        // Connections first: those that never joined close themselves
        // (`server_shutdown`); each room ends its seats' attendance and its
        // session, and closes its own. So the drain is not held by sockets.
        tracing::info!("shutting down: closing connections and rooms");
        let _ = shutting_down.send(true);
        let _ = rooms.send(CloseAll).await;
        tracing::info!("shutting down: draining requests");
        handle.stop(true).await;
    });
    tracing::info!(%addr, "Conclave is serving");
    let served = server.await;
    let flushed = sink
        .flush(Duration::from_secs(config.persistence.shutdown_flush_secs))
        .await;
    if let Some(dispatcher) = dispatcher {
        // Deliveries under way finish, so a restart sends none twice.
        let _ = dispatcher
            .send(crate::webhooks::dispatcher::Drain(Duration::from_secs(
                config.webhooks.timeout_secs.max(1),
            )))
            .await;
    }
    heartbeat.stop().await;
    retention.abort();
    crate::node::record_stopped(&store, node).await;
    tracing::info!(flushed, "stopped");
    served?;
    Ok(())
}

/// Opens the store and loads the secrets; also used by `conclave migrate`.
pub async fn build_services(config: &Config, clock: Arc<dyn Clock>) -> Result<Services, RunError> {
    create_private_dir(&config.data_dir).map_err(RunError::Secrets)?;
    let secrets = ServerSecrets::load(
        &config.data_dir,
        config.hmac_key.clone(),
        config.encryption_key.clone(),
    )
    .map_err(RunError::Secrets)?;
    let mut secrets = secrets;
    let store = match store::open(config).await {
        Ok(store) => store,
        Err(e) => {
            let url = config.database_url.as_deref();
            return Err(match url {
                Some(url) => match crate::database_error::explain(url).await {
                    Some(why) => RunError::Database(why),
                    None => e.into(),
                },
                None => e.into(),
            });
        }
    };
    secrets.encryption_key = crate::key_rotation::check(
        store.as_ref(),
        secrets.encryption_key,
        &config.data_dir,
        config.encryption_key.is_none(),
    )
    .await?;
    Ok(Services::new(config, store, secrets, clock))
}

/// Creates the data directory readable by the server's user alone; an
/// existing directory is left as the operator made it.
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}
