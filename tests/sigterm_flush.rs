//! SIGTERM to the real binary while a room is live: the process exits 0
//! only after every seat's attendance, the session's end and every chat
//! message are written, on both stores. Read back from the store itself
//! once the process is gone. And a connection that never joined does not
//! hold the stop: it is closed with `server_shutdown`.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, Ws};
use conclave::store::{Page, Store};
use conclave_actors::ConferenceId;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_conclave");

/// A minimal stand-in for `TestServer`, so `Ws` can reach the binary.
fn server_at(port: u16, backend: Backend) -> common::TestServerAddr {
    common::TestServerAddr {
        base: format!("http://127.0.0.1:{port}"),
        backend,
    }
}

fn sigterm_flushes_room_history(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut cmd = Command::new(BIN);
    for var in [
        "DATABASE_URL",
        "CONCLAVE_CONFIG",
        "CONCLAVE_HMAC_KEY",
        "CONCLAVE_ENCRYPTION_KEY",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("CONCLAVE_DATA_DIR", &data)
        .env("CONCLAVE_BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // PostgreSQL is reached through a proxy that can slow every round
    // trip, so that history is still in flight when SIGTERM comes.
    let proxy_runtime = tokio::runtime::Runtime::new().unwrap();
    let proxy = proxy_runtime.block_on(common::TcpProxy::start(common::postgres_addr(
        &common::postgres_url(),
    )));
    if backend == Backend::Postgres {
        cmd.env("DATABASE_URL", proxy.url_for(&common::postgres_url()))
            .env("CONCLAVE_DATABASE_SCHEMA", &schema);
    }
    let mut child = cmd.spawn().unwrap();
    let addr = server_at(port, backend);
    let sent: Vec<String> = (0..30).map(|i| format!("message {i}")).collect();
    let (conference, mut clients) = actix_web::rt::System::new().block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while awc::Client::default().get(format!("{}/readyz", addr.base)).send().await.is_err() {
            assert!(Instant::now() < deadline, "the server never answered");
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        let email = format!("user-{}@example.org", uuid::Uuid::new_v4().simple());
        let mut res = awc::Client::default()
            .post(format!("{}/api/v1/accounts", addr.base))
            .send_json(&json!({"email": email, "password": "correct horse battery", "display_name": "Ada"}))
            .await
            .unwrap();
        let body: serde_json::Value = res.json().await.unwrap();
        let code = body["line"]["access_code"].as_str().unwrap().to_owned();
        let pin = body["moderator_pin"].as_str().unwrap().to_owned();
        let mut chair = Ws::connect_to(&addr.base).await;
        chair.join(&code, None, Some(&pin), "Chair").await;
        let mut guest = Ws::connect_to(&addr.base).await;
        guest.join(&code, None, None, "Guest").await;
        proxy.set_delay(Duration::from_millis(40));
        // Fired without waiting for answers, then SIGTERM at once.
        for text in &sent {
            guest.send(json!({"type": "chat", "id": text, "text": text})).await;
        }
        let mut echoes = 0;
        while echoes < sent.len() {
            if chair.next().await.unwrap()["type"] == "chat" {
                echoes += 1;
            }
        }
        let conference: ConferenceId = body["line"]["id"].as_str().unwrap().parse().unwrap();
        (conference, vec![chair, guest])
    });
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "no graceful stop within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
    clients.clear();

    actix_web::rt::System::new().block_on(async {
        let store: std::sync::Arc<dyn Store> = match backend {
            Backend::Sqlite => std::sync::Arc::new(
                conclave::store::sqlite::SqliteStore::open(&data.join("conclave.sqlite3"))
                    .await
                    .unwrap(),
            ),
            Backend::Postgres => std::sync::Arc::new(
                conclave::store::postgres::PgStore::connect(&common::postgres_url(), Some(&schema))
                    .await
                    .unwrap(),
            ),
        };
        let sessions = store
            .conference_sessions(conference, Page::ALL)
            .await
            .unwrap();
        assert_eq!(sessions.len(), 1);
        assert!(
            sessions[0].ended_at.is_some(),
            "the session's end is written"
        );
        let attendance = store.attendance(conference, Page::ALL).await.unwrap();
        assert_eq!(attendance.len(), 2);
        for a in &attendance {
            assert_eq!(a.left_reason.as_deref(), Some("room_closed"), "{a:?}");
            assert!(a.left_at.is_some());
        }
        // The chat is sealed with the meeting's key, wrapped by the key the
        // server generated into its data directory.
        let key = std::fs::read_to_string(data.join("encryption.key")).unwrap();
        let key = conclave::secrets::SecretKey::from_hex("key", &key).unwrap();
        let chat: Vec<_> = conclave::summary_keys::Unsealer::new(store.clone(), key)
            .chat_log(conference, Page::ALL)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.text.unwrap())
            .collect();
        assert_eq!(chat, sent, "every message, once, in order");
    });
}

#[test]
fn sqlite_sigterm_flushes_room_history() {
    sigterm_flushes_room_history(Backend::Sqlite);
}

#[test]
fn postgres_sigterm_flushes_room_history() {
    sigterm_flushes_room_history(Backend::Postgres);
}

/// SIGTERM with a WebSocket open that never joined: it is closed at once
/// with `server_shutdown` (no room would close it), and the process exits
/// well within the 10 s drain it used to wait out.
#[test]
fn sigterm_closes_connections_that_never_joined() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(BIN);
    for var in ["DATABASE_URL", "CONCLAVE_CONFIG"] {
        cmd.env_remove(var);
    }
    let mut child = cmd
        .env("CONCLAVE_DATA_DIR", dir.path().join("data"))
        .env("CONCLAVE_BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = server_at(port, Backend::Sqlite);
    actix_web::rt::System::new().block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while awc::Client::default()
            .get(format!("{}/readyz", addr.base))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the server never answered");
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        let mut idle = Ws::connect_to(&addr.base).await;
        assert_eq!(idle.ask(json!({"type": "ping"})).await["type"], "pong");
        let signalled = Instant::now();
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let reason = idle
            .next()
            .await
            .expect_err("the server closes the connection")
            .expect("with a reason");
        assert_eq!(reason.description.as_deref(), Some("server_shutdown"));
        assert_eq!(reason.code, awc::ws::CloseCode::Away);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(
                signalled.elapsed() < Duration::from_secs(5),
                "not stopped within 5 s of SIGTERM"
            );
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(status.success(), "exit status {status}");
    });
}
