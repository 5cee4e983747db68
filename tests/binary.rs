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

/// Serves, is used through its API with JSON logs at debug level, stops on
/// SIGTERM with exit 0, and no password, PIN, token or key appears in its
/// output.
#[test]
fn serves_until_sigterm_and_logs_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = conclave(&dir.path().join("data"))
        .env("CONCLAVE_BIND", format!("127.0.0.1:{port}"))
        .env("CONCLAVE_LOG", "debug")
        .env("CONCLAVE_GATEWAY_SECRET", "gateway-secret-for-the-log-test")
        .env("CONCLAVE_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let secrets = actix_web::rt::System::new().block_on(async {
        let client = awc::Client::default();
        let deadline = Instant::now() + Duration::from_secs(30);
        while client.get(format!("{base}/healthz")).send().await.is_err() {
            assert!(Instant::now() < deadline, "the server never answered");
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        let password = "a very secret passphrase";
        let mut res = client
            .post(format!("{base}/api/v1/accounts"))
            .send_json(&serde_json::json!({"email": "ops@example.org", "password": password, "display_name": "Ops"}))
            .await
            .unwrap();
        let body: serde_json::Value = res.json().await.unwrap();
        let token = body["session"]["token"].as_str().unwrap().to_owned();
        let pin = body["moderator_pin"].as_str().unwrap().to_owned();
        let mut res = client
            .post(format!("{base}/api/v1/account/line/moderator-pin/reset"))
            .insert_header(("authorization", format!("Bearer {token}")))
            .send()
            .await
            .unwrap();
        let new_pin = res.json::<serde_json::Value>().await.unwrap()["moderator_pin"].as_str().unwrap().to_owned();
        client
            .put(format!("{base}/api/v1/account/default-security-code"))
            .insert_header(("authorization", format!("Bearer {token}")))
            .send_json(&serde_json::json!({"security_code": "97531"}))
            .await
            .unwrap();
        // A caller dials in through the gateway and joins the line.
        let code = body["line"]["access_code"].as_str().unwrap().to_owned();
        let mut gw = common::Ws::gateway_at(&base, "gateway-secret-for-the-log-test")
            .await
            .expect("the gateway is admitted");
        gw.send(serde_json::json!({"type": "call", "call": "c", "from": "+441234567890"}))
            .await;
        gw.send(serde_json::json!({"type": "dtmf", "call": "c", "digits": format!("{code}#97531##")}))
            .await;
        loop {
            let m = gw.next().await.expect("the gateway stays connected");
            if m["prompt"] == "joined" {
                break;
            }
        }
        vec![
            password.to_owned(),
            token,
            pin,
            new_pin,
            "97531".to_owned(),
            "+441234567890".to_owned(),
            "1234567890".to_owned(),
            "gateway-secret-for-the-log-test".to_owned(),
        ]
    });
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
    let mut output = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut output)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut output)
        .unwrap();
    assert!(output.contains("shutting down"), "{output}");
    assert!(
        output
            .lines()
            .all(|l| l.trim().is_empty() || l.starts_with('{')),
        "JSON lines only:\n{output}"
    );
    for secret in secrets.iter().chain([&hmac_key, &encryption_key]) {
        assert!(
            !output.contains(secret.as_str()),
            "a secret reached the log:\n{output}"
        );
    }
}
