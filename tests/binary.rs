//! The `conclave` binary as an operator runs it: `--help`, `migrate`,
//! serving until SIGTERM, and logs that never carry a secret.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_conclave");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A command with a clean environment apart from what the test sets.
fn conclave(data_dir: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    for var in [
        "DATABASE_URL",
        "CONCLAVE_BIND",
        "CONCLAVE_CONFIG",
        "CONCLAVE_HMAC_KEY",
        "CONCLAVE_ENCRYPTION_KEY",
    ] {
        c.env_remove(var);
    }
    c.env("CONCLAVE_DATA_DIR", data_dir);
    c
}

#[test]
fn help_names_the_commands_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let out = conclave(dir.path()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for word in [
        "serve",
        "migrate",
        "CONCLAVE_BIND",
        "CONCLAVE_DATA_DIR",
        "DATABASE_URL",
        "--config",
    ] {
        assert!(help.contains(word), "--help lacks {word}:\n{help}");
    }
    let out = conclave(dir.path()).arg("--no-such-flag").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn migrate_creates_the_embedded_store_and_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = conclave(&data).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(data.join("conclave.sqlite3").exists());
    use std::os::unix::fs::PermissionsExt;
    for key in ["hmac.key", "encryption.key"] {
        let mode = std::fs::metadata(data.join(key))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{key}");
    }
    let again = conclave(&data).arg("migrate").output().unwrap();
    assert!(again.status.success());
}

#[test]
fn a_bad_config_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("conclave.toml");
    std::fs::write(&file, "bind = 12\n").unwrap();
    let out = conclave(dir.path())
        .args(["--config", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid config file"));
}

/// Serves, is used through its API, its WebSocket and its telephony
/// gateway with JSON logs at TRACE, stops on SIGTERM with exit 0, and no
/// password, PIN, code, token, key, e-mail address, chat text, caller's
/// name or number appears in its output: on SQLite, and on PostgreSQL
/// whose driver logs every statement's parameters at debug level.
#[test]
fn serves_until_sigterm_and_logs_no_secret_on_sqlite() {
    serves_until_sigterm_and_logs_no_secret(common::Backend::Sqlite);
}

#[test]
fn serves_until_sigterm_and_logs_no_secret_on_postgres() {
    serves_until_sigterm_and_logs_no_secret(common::Backend::Postgres);
}

const GATEWAY_SECRET: &str = "gateway-secret-for-the-log-test";

fn serves_until_sigterm_and_logs_no_secret(backend: common::Backend) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut command = conclave(&dir.path().join("data"));
    if backend == common::Backend::Postgres {
        command.env("DATABASE_URL", common::postgres_url()).env(
            "CONCLAVE_DATABASE_SCHEMA",
            format!("t_{}", uuid::Uuid::new_v4().simple()),
        );
    }
    let mut child = command
        .env("CONCLAVE_BIND", format!("127.0.0.1:{port}"))
        // An operator asking for the driver's statements gets none either.
        .env("CONCLAVE_LOG", "trace,tokio_postgres::query=trace")
        .env("CONCLAVE_GATEWAY_SECRET", GATEWAY_SECRET)
        .env("CONCLAVE_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read as it comes: at TRACE the output outgrows a pipe's buffer, and
    // a server blocked on writing its log would never answer.
    let readers = [
        read_all(child.stdout.take().unwrap()),
        read_all(child.stderr.take().unwrap()),
    ];
    let base = format!("http://127.0.0.1:{port}");
    let secrets = actix_web::rt::System::new().block_on(use_everything(&base));
    let hmac_key = std::fs::read_to_string(dir.path().join("data/hmac.key")).unwrap();
    let encryption_key = std::fs::read_to_string(dir.path().join("data/encryption.key")).unwrap();

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "no graceful stop within 20 s");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
    let output: String = readers.into_iter().map(|r| r.join().unwrap()).collect();
    assert!(output.contains("shutting down"), "{output}");
    assert!(
        output.contains(r#""level":"TRACE""#),
        "the operator's TRACE is honoured elsewhere:\n{output}"
    );
    assert!(
        output
            .lines()
            .all(|l| l.trim().is_empty() || l.starts_with('{')),
        "JSON lines only:\n{output}"
    );
    for secret in secrets.iter().map(String::as_str).chain([
        hmac_key.trim(),
        encryption_key.trim(),
        "$argon2id$",
    ]) {
        if let Some(line) = output.lines().find(|l| l.contains(secret)) {
            panic!("{secret:?} reached the log in:\n{line}");
        }
    }
}

fn read_all(mut from: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        from.read_to_string(&mut text).unwrap();
        text
    })
}

/// Signs up and in, sets codes, joins by WebSocket and by phone (with a
/// wrong code typed first), names the caller and chats; returns every
/// value the log must not carry.
async fn use_everything(base: &str) -> Vec<String> {
    use serde_json::json;
    let client = awc::Client::default();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the server never answered");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let email = "ops-log-test@example.org";
    let password = "a very secret passphrase";
    let mut res = client
        .post(format!("{base}/api/v1/accounts"))
        .send_json(&json!({"email": email, "password": password, "display_name": "Ops"}))
        .await
        .unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    let token = body["session"]["token"].as_str().unwrap().to_owned();
    let pin = body["moderator_pin"].as_str().unwrap().to_owned();
    let code = body["line"]["access_code"].as_str().unwrap().to_owned();
    let mut res = client
        .post(format!("{base}/api/v1/sessions"))
        .send_json(&json!({"email": email, "password": password}))
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let signed_in = res.json::<serde_json::Value>().await.unwrap();
    let token2 = signed_in["token"].as_str().unwrap().to_owned();
    let mut res = client
        .post(format!("{base}/api/v1/account/line/moderator-pin/reset"))
        .insert_header(("authorization", format!("Bearer {token}")))
        .send()
        .await
        .unwrap();
    let new_pin = res.json::<serde_json::Value>().await.unwrap()["moderator_pin"]
        .as_str()
        .unwrap()
        .to_owned();
    client
        .put(format!("{base}/api/v1/account/default-security-code"))
        .insert_header(("authorization", format!("Bearer {token2}")))
        .send_json(&json!({"security_code": "975318642086"}))
        .await
        .unwrap();

    let mut chair = common::Ws::connect_to(base).await;
    let joined = chair
        .join(&code, Some("975318642086"), Some(&new_pin), "Chair")
        .await;
    assert_eq!(joined["type"], "joined", "{joined}");
    // A caller dials in through the gateway, types a wrong code, then the
    // right ones, and joins the line.
    let number = "+441234567890";
    let wrong_code = "5820461973";
    let mut gw = common::Ws::gateway_at(base, GATEWAY_SECRET)
        .await
        .expect("the gateway is admitted");
    gw.send(json!({"type": "call", "call": "c", "from": number}))
        .await;
    gw.send(json!({"type": "dtmf", "call": "c", "digits": format!("{wrong_code}#")}))
        .await;
    gw.send(json!({"type": "dtmf", "call": "c", "digits": format!("{code}#975318642086##")}))
        .await;
    loop {
        let m = gw.next().await.expect("the gateway stays connected");
        if m["prompt"] == "joined" {
            break;
        }
    }
    let caller = loop {
        let m = chair.until("participant_joined").await;
        if m["participant"]["phone"] == true {
            break m["participant"]["id"].clone();
        }
    };
    let caller_name = "Grace Hopperfield";
    let named = chair
        .ask(json!({"type": "name_caller", "participant": caller, "name": caller_name}))
        .await;
    assert_eq!(named["durable"], true, "{named}");
    let chat = "the launch phrase is mauve-otter-42";
    let said = chair.ask(json!({"type": "chat", "text": chat})).await;
    assert_eq!(said["type"], "ack", "{said}");
    vec![
        email.to_owned(),
        password.to_owned(),
        token,
        token2,
        pin,
        new_pin,
        code,
        wrong_code.to_owned(),
        "975318642086".to_owned(),
        number.to_owned(),
        "1234567890".to_owned(),
        caller_name.to_owned(),
        chat.to_owned(),
        GATEWAY_SECRET.to_owned(),
    ]
}

/// A server killed with an open room (SIGKILL: no room is closed) and
/// started again on the same data directory and database closes the
/// session it left open: `ended_at` and every open seat's `left_at` at the
/// last recorded event, the seats with `server_stopped`.
#[test]
fn a_killed_server_closes_its_open_sessions_on_restart_on_sqlite() {
    a_killed_server_closes_its_open_sessions_on_restart(common::Backend::Sqlite);
}

#[test]
fn a_killed_server_closes_its_open_sessions_on_restart_on_postgres() {
    a_killed_server_closes_its_open_sessions_on_restart(common::Backend::Postgres);
}

fn a_killed_server_closes_its_open_sessions_on_restart(backend: common::Backend) {
    use serde_json::{json, Value};
    let dir = tempfile::tempdir().unwrap();
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let port = free_port();
    let start = || {
        let mut command = conclave(&dir.path().join("data"));
        if backend == common::Backend::Postgres {
            command
                .env("DATABASE_URL", common::postgres_url())
                .env("CONCLAVE_DATABASE_SCHEMA", &schema);
        }
        command
            .env("CONCLAVE_BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let base = format!("http://127.0.0.1:{port}");
    let sessions = |token: String, line: String| {
        let base = base.clone();
        async move {
            let mut res = awc::Client::default()
                .get(format!("{base}/api/v1/conferences/{line}/sessions"))
                .insert_header(("authorization", format!("Bearer {token}")))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().limit(1 << 20).await.unwrap()
        }
    };
    let wait_up = |base: String| async move {
        let deadline = Instant::now() + Duration::from_secs(30);
        while awc::Client::default()
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the server never answered");
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    };

    let mut first = start();
    let (token, line) = actix_web::rt::System::new().block_on(async {
        wait_up(base.clone()).await;
        let mut res = awc::Client::default()
            .post(format!("{base}/api/v1/accounts"))
            .send_json(&json!({"email": "owner@example.org", "password": "a very secret passphrase", "display_name": "Ada"}))
            .await
            .unwrap();
        let body: Value = res.json().await.unwrap();
        let token = body["session"]["token"].as_str().unwrap().to_owned();
        let line = body["line"]["id"].as_str().unwrap().to_owned();
        let code = body["line"]["access_code"].as_str().unwrap().to_owned();
        let mut ada = common::Ws::connect_to(&base).await;
        assert_eq!(ada.join(&code, None, None, "Ada").await["type"], "joined");
        let said = ada.ask(json!({"type": "chat", "text": "still here"})).await;
        assert_eq!(said["type"], "ack", "{said}");
        // Killed once the seat and the chat are written.
        common::eventually(10, "the open session is written", || {
            let sessions = sessions(token.clone(), line.clone());
            async move {
                let all = sessions.await;
                let seat = &all[0]["attendance"][0];
                (seat["left_at"].is_null() && !seat["joined_at"].is_null()).then_some(())
            }
        })
        .await;
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        std::mem::forget(ada);
        (token, line)
    });
    first.kill().unwrap();
    first.wait().unwrap();
    let killed_at = chrono::Utc::now();

    let mut second = start();
    let after = actix_web::rt::System::new().block_on(async {
        wait_up(base.clone()).await;
        sessions(token, line).await
    });
    second.kill().unwrap();
    second.wait().unwrap();
    let session = &after[0];
    let seat = &session["attendance"][0];
    assert!(!session["ended_at"].is_null(), "{after}");
    assert_eq!(session["ended_at"], seat["left_at"], "{after}");
    assert_eq!(seat["left_reason"], "server_stopped", "{after}");
    let at = |v: &Value| {
        v.as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    };
    assert!(
        at(&seat["joined_at"]) <= at(&seat["left_at"]) && at(&seat["left_at"]) < killed_at,
        "closed at its last event, not at the restart: {after}"
    );
}
