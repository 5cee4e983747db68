//! The harness every integration test shares: databases (a temporary SQLite
//! file, or a fresh schema in the PostgreSQL that `scripts/test` provides),
//! a real server on port 0, and a small JSON client.
//!
//! PostgreSQL is not optional: without `CONCLAVE_TEST_DATABASE_URL` the
//! PostgreSQL half of a test fails with a message saying how to run it.

#![allow(dead_code)]

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conclave::clock::{Clock, SystemClock};
use conclave::config::Config;
use conclave::secrets::SecretKey;
use serde_json::Value;

pub mod baresip;
mod peer;
pub mod people;
mod proxy;
pub mod scan;
pub mod sip_uac;
#[allow(unused_imports)]
pub use peer::loopback_peer;
#[allow(unused_imports)]
pub use proxy::{postgres_addr, TcpProxy};

/// Which store a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

pub fn postgres_url() -> String {
    std::env::var("CONCLAVE_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "CONCLAVE_TEST_DATABASE_URL is not set: run the tests with scripts/test, \
             or point it at a PostgreSQL database you can create schemas in"
        )
    })
}

/// A configuration for `backend` with its own data directory (and, for
/// PostgreSQL, its own schema), fixed test keys and one HTTP worker.
pub fn config(backend: Backend) -> (Config, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("data"),
        http_workers: Some(1),
        hmac_key: Some(SecretKey::from_hex("test", &"5a".repeat(32)).unwrap()),
        encryption_key: Some(SecretKey::from_hex("test", &"a5".repeat(32)).unwrap()),
        ..Config::default()
    };
    config.hashing.workers = 2;
    if backend == Backend::Postgres {
        config.database_url = Some(postgres_url());
        config.database_schema = Some(format!("t_{}", uuid::Uuid::new_v4().simple()));
    }
    (config, dir)
}

/// A running server; stops when dropped.
pub struct TestServer {
    pub base: String,
    pub backend: Backend,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// Resolves once `run` has returned (rooms closed, history flushed).
    stopped: Option<tokio::sync::oneshot::Receiver<()>>,
    /// What it was started with, to start it again on the same data.
    config: Config,
    clock: Arc<dyn Clock>,
    _dir: Arc<tempfile::TempDir>,
}

impl TestServer {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}, Arc::new(SystemClock)).await
    }

    /// Starts with a tweaked configuration and a chosen clock.
    pub async fn start_with(
        backend: Backend,
        tweak: impl FnOnce(&mut Config),
        clock: Arc<dyn Clock>,
    ) -> Self {
        let (mut config, dir) = config(backend);
        tweak(&mut config);
        Self::launch(backend, config, clock, Arc::new(dir)).await
    }

    async fn launch(
        backend: Backend,
        config: Config,
        clock: Arc<dyn Clock>,
        dir: Arc<tempfile::TempDir>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let run_config = config.clone();
        let run_clock = clock.clone();
        actix_web::rt::spawn(async move {
            conclave::run_with_clock(listener, run_config, run_clock, async {
                let _ = rx.await;
            })
            .await
            .expect("the test server runs");
            let _ = done_tx.send(());
        });
        let server = Self {
            base,
            backend,
            stop: Some(tx),
            stopped: Some(done_rx),
            config,
            clock,
            _dir: dir,
        };
        server.wait_ready().await;
        server
    }

    /// Stops gracefully (as on SIGTERM) and waits until it has stopped.
    pub async fn shut_down(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(done) = self.stopped.take() {
            tokio::time::timeout(Duration::from_secs(60), done)
                .await
                .expect("the server stops within 60 s")
                .expect("the server task ends");
        }
    }

    /// Stops gracefully, then starts a new server on the same data.
    pub async fn restart(mut self) -> Self {
        self.shut_down().await;
        Self::launch(
            self.backend,
            self.config.clone(),
            self.clock.clone(),
            self._dir.clone(),
        )
        .await
    }

    /// Stops gracefully, then starts a new server on the same data with a
    /// changed configuration (a rotated key).
    pub async fn restart_with(mut self, tweak: impl FnOnce(&mut Config)) -> Self {
        self.shut_down().await;
        let mut config = self.config.clone();
        tweak(&mut config);
        Self::launch(self.backend, config, self.clock.clone(), self._dir.clone()).await
    }

    /// The `conclave` binary run on this server's store and data directory
    /// with `encryption_key` (hex): (exit code, stdout and stderr).
    pub fn cli(&self, encryption_key: &str, args: &[&str]) -> (Option<i32>, String) {
        let config = self.config();
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_conclave"));
        for var in [
            "DATABASE_URL",
            "CONCLAVE_CONFIG",
            "CONCLAVE_DATABASE_SCHEMA",
        ] {
            c.env_remove(var);
        }
        c.args(args)
            .env("CONCLAVE_DATA_DIR", &config.data_dir)
            .env("CONCLAVE_HMAC_KEY", "5a".repeat(32))
            .env("CONCLAVE_ENCRYPTION_KEY", encryption_key);
        if self.backend == Backend::Postgres {
            c.env("DATABASE_URL", postgres_url()).env(
                "CONCLAVE_DATABASE_SCHEMA",
                config.database_schema.clone().unwrap(),
            );
        }
        let out = c.output().unwrap();
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.code(), text)
    }

    /// What it was started with (its store, its keys), for tests that
    /// open the same store beside it.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The data directory (SQLite file, keys, uploads).
    pub fn data_dir(&self) -> &std::path::Path {
        &self.config.data_dir
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(res) = awc::Client::default().get(self.url("/readyz")).send().await {
                if res.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "server at {} never became ready",
                self.base
            );
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends `method path` with an optional JSON body and bearer token;
    /// returns the status and the body parsed as JSON (Null when empty).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let raw = body.map(|b| b.to_string());
        self.raw(
            method,
            path,
            raw.as_deref(),
            Some("application/json"),
            token,
        )
        .await
    }

    /// Like [`call`] but with a raw body and content type.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        content_type: Option<&str>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(30))
            .finish();
        let mut req = client.request(method.parse().expect("a valid method"), self.url(path));
        if let Some(t) = token {
            req = req.insert_header(("authorization", format!("Bearer {t}")));
        }
        let mut res = match body {
            Some(b) => {
                if let Some(ct) = content_type {
                    req = req.insert_header(("content-type", ct));
                }
                req.send_body(b.to_owned()).await
            }
            None => req.send().await,
        }
        .expect("the server answers");
        let status = res.status().as_u16();
        let bytes = res.body().limit(1 << 22).await.expect("a readable body");
        if status >= 400 {
            let ct = res
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(
                ct.as_deref(),
                Some("application/problem+json"),
                "{method} {path} -> {status} must carry a problem body"
            );
        }
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, value)
    }

    /// Signs up a fresh account; returns (token, sign-up response).
    pub async fn sign_up(&self) -> (String, Value) {
        let email = format!("user-{}@example.org", uuid::Uuid::new_v4().simple());
        let (status, body) = self
            .call(
                "POST",
                "/api/v1/accounts",
                Some(serde_json::json!({"email": email, "password": "correct horse battery", "display_name": "Ada"})),
                None,
            )
            .await;
        assert_eq!(status, 201, "{body}");
        (body["session"]["token"].as_str().unwrap().to_owned(), body)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Generates, for each listed `async fn case(Backend)`, one test per store:
/// `sqlite::case` and `postgres::case`. The first argument is the test
/// attribute's runtime (`tokio` or `actix`).
#[macro_export]
macro_rules! on_both_stores {
    (tokio: $($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $case() { super::$case($crate::common::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $case() { super::$case($crate::common::Backend::Postgres).await })*
        }
    };
    (actix: $($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[actix_web::test] async fn $case() { super::$case($crate::common::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[actix_web::test] async fn $case() { super::$case($crate::common::Backend::Postgres).await })*
        }
    };
}

/// A fresh account whose default security code is `2468`; returns its
/// line's (access code, moderator PIN).
pub async fn line_with_security(s: &TestServer) -> (String, String) {
    let (_, code, pin) = owned_line_with_security(s).await;
    (code, pin)
}

/// As [`line_with_security`], with the owner's API token first.
pub async fn owned_line_with_security(s: &TestServer) -> (String, String, String) {
    let (token, body) = s.sign_up().await;
    let (status, _) = s
        .call(
            "PUT",
            "/api/v1/account/default-security-code",
            Some(serde_json::json!({"security_code": "2468"})),
            Some(&token),
        )
        .await;
    assert_eq!(status, 204);
    (
        token,
        body["line"]["access_code"].as_str().unwrap().to_owned(),
        body["moderator_pin"].as_str().unwrap().to_owned(),
    )
}

/// A real WebSocket client of `/ws`.
pub struct Ws {
    framed: actix_codec::Framed<awc::BoxedSocket, awc::ws::Codec>,
    /// Messages `ask` passed over while waiting for its answer, kept for
    /// `next` and `until` (an answer may come after the events it caused).
    skipped: std::collections::VecDeque<Value>,
    /// Every text frame received, verbatim, for tests that inspect what a
    /// client was ever sent.
    pub captured: Vec<String>,
}

/// A server the test did not start in-process (the real binary).
pub struct TestServerAddr {
    pub base: String,
    pub backend: Backend,
}

impl Ws {
    pub async fn connect(server: &TestServer) -> Self {
        Self::connect_to(&server.base).await
    }

    /// Connects to `/ws` of the server at `base` (`http://host:port`).
    pub async fn connect_to(base: &str) -> Self {
        let url = format!("{base}/ws").replacen("http", "ws", 1);
        let (_, framed) = awc::Client::new()
            .ws(url)
            .connect()
            .await
            .expect("the WebSocket opens");
        Self {
            framed,
            skipped: Default::default(),
            captured: Vec::new(),
        }
    }

    /// Connects from another loopback address (`127.0.0.N`), as a client
    /// elsewhere would: failures are counted per address.
    pub async fn connect_from(server: &TestServer, from: std::net::IpAddr) -> Self {
        let url = server.url("/ws").replacen("http", "ws", 1);
        let client = awc::Client::builder()
            .connector(awc::Connector::new().local_address(from))
            .finish();
        let (_, framed) = client.ws(url).connect().await.expect("the WebSocket opens");
        Self {
            framed,
            skipped: Default::default(),
            captured: Vec::new(),
        }
    }

    /// Connects to `/ws` as a browser would, with `cookie` (a `Cookie`
    /// header's value) if given; also answers the upgrade's `Set-Cookie`.
    pub async fn connect_with_cookie(
        server: &TestServer,
        cookie: Option<&str>,
    ) -> (Self, Option<String>) {
        let url = server.url("/ws").replacen("http", "ws", 1);
        let mut req = awc::Client::new().ws(url);
        if let Some(c) = cookie {
            req = req.set_header("cookie", c);
        }
        let (res, framed) = req.connect().await.expect("the WebSocket opens");
        let set = res
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_owned());
        let ws = Self {
            framed,
            skipped: Default::default(),
            captured: Vec::new(),
        };
        (ws, set)
    }

    /// Opens the telephony gateway's `/gateway` with a bearer secret.
    pub async fn gateway(server: &TestServer, secret: &str) -> Result<Self, u16> {
        Self::gateway_at(&server.base, secret).await
    }

    /// Opens `/gateway` of the server at `base` (`http://host:port`).
    pub async fn gateway_at(base: &str, secret: &str) -> Result<Self, u16> {
        let url = format!("{base}/gateway").replacen("http", "ws", 1);
        match awc::Client::new()
            .ws(url)
            .bearer_auth(secret)
            .connect()
            .await
        {
            Ok((_, framed)) => Ok(Self {
                framed,
                skipped: Default::default(),
                captured: Vec::new(),
            }),
            Err(awc::error::WsClientError::InvalidResponseStatus(status)) => Err(status.as_u16()),
            Err(e) => panic!("the gateway socket: {e}"),
        }
    }

    pub async fn send(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        use futures_util::SinkExt;
        self.framed
            .send(awc::ws::Message::Text(text.to_owned().into()))
            .await
            .expect("the frame is sent");
    }

    /// The next JSON message (pings answered, other control frames skipped);
    /// `Err(close reason)` when the server closed the connection.
    pub async fn next(&mut self) -> Result<Value, Option<awc::ws::CloseReason>> {
        if let Some(m) = self.skipped.pop_front() {
            return Ok(m);
        }
        self.next_frame().await
    }

    async fn next_frame(&mut self) -> Result<Value, Option<awc::ws::CloseReason>> {
        use futures_util::{SinkExt, StreamExt};
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.framed.next())
                .await
                .expect("a frame within 10 s");
            match frame {
                Some(Ok(awc::ws::Frame::Text(bytes))) => {
                    self.captured
                        .push(String::from_utf8_lossy(&bytes).into_owned());
                    return Ok(serde_json::from_slice(&bytes).expect("JSON text"));
                }
                Some(Ok(awc::ws::Frame::Ping(p))) => {
                    let _ = self.framed.send(awc::ws::Message::Pong(p)).await;
                }
                Some(Ok(awc::ws::Frame::Close(reason))) => return Err(reason),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Err(None),
            }
        }
    }

    /// Skips messages until one of type `kind` arrives.
    pub async fn until(&mut self, kind: &str) -> Value {
        loop {
            let m = self
                .next()
                .await
                .unwrap_or_else(|r| panic!("closed ({r:?}) before a {kind}"));
            if m["type"] == kind {
                return m;
            }
        }
    }

    /// Sends a request and returns the answer echoing its id.
    pub async fn ask(&mut self, mut request: Value) -> Value {
        let id = uuid::Uuid::new_v4().simple().to_string();
        request["id"] = Value::String(id.clone());
        self.send(request).await;
        loop {
            let m = self
                .next_frame()
                .await
                .unwrap_or_else(|r| panic!("closed ({r:?}) before the answer"));
            if m["id"] == id.as_str() {
                return m;
            }
            self.skipped.push_back(m);
        }
    }

    /// Joins; returns the answer (`joined` or `error`).
    pub async fn join(
        &mut self,
        access_code: &str,
        security: Option<&str>,
        pin: Option<&str>,
        name: &str,
    ) -> Value {
        self.ask(serde_json::json!({
            "type": "join", "access_code": access_code, "security_code": security, "moderator_pin": pin, "name": name,
        }))
        .await
    }
}

/// Polls `probe` every 100 ms until it answers `Some`, for up to `secs`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {secs} s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}
