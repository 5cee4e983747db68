//! TURN credentials against a real coturn (Debian's `coturn`, which
//! `scripts/test` installs): a participant's `joined` carries a credential
//! of its own for the configured server, and coturn, knowing only the
//! shared secret, allocates a relay with it over UDP and over TCP; a
//! tampered credential is refused. The secret itself is never sent.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use common::{line_with_security, Backend, TestServer, Ws};

/// A coturn on loopback, stopped when dropped.
struct Coturn {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    // Free for both: TURN listens on UDP and TCP.
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn coturn(secret: &str) -> Coturn {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new("turnserver")
        .args(["--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1"])
        .args(["--listening-port", &port.to_string()])
        .args(["--min-port", "60000", "--max-port", "60999"])
        .args(["--use-auth-secret", "--static-auth-secret", secret])
        .args([
            "--realm",
            "conclave.test",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
        ])
        .args(["--allow-loopback-peers", "--no-multicast-peers"])
        .arg("--pidfile")
        .arg(dir.path().join("turn.pid"))
        .arg("--db")
        .arg(dir.path().join("turndb"))
        .args(["--log-file", "stdout", "--simple-log"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("coturn's turnserver runs (scripts/test installs it)");
    // Ready once it answers on TCP.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "coturn never listened"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Coturn {
        child,
        port,
        _dir: dir,
    }
}

/// Allocates a relay and sends a few packets through it; true when coturn
/// took the credential.
fn allocates(port: u16, user: &str, password: &str, tcp: bool) -> bool {
    let mut c = Command::new("timeout");
    c.args(["30", "turnutils_uclient", "-u", user, "-w", password])
        .args(["-p", &port.to_string(), "-n", "2", "-m", "1"])
        .args(["-e", "127.0.0.1", "-y"]);
    if tcp {
        c.arg("-t");
    }
    c.arg("127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("turnutils_uclient runs")
        .success()
}

#[actix_web::test]
async fn a_participant_relays_through_coturn_with_its_own_credential() {
    let secret = format!("coturn secret {}", uuid::Uuid::new_v4().simple());
    let turn = coturn(&secret);
    let urls = vec![
        format!("turn:127.0.0.1:{}?transport=udp", turn.port),
        format!("turn:127.0.0.1:{}?transport=tcp", turn.port),
    ];
    let config_secret = secret.clone();
    let s = TestServer::start_with(
        Backend::Sqlite,
        move |c| {
            c.media.bind_ip = std::net::IpAddr::from([127, 0, 0, 1]);
            c.media.port_min = 48000;
            c.media.port_max = 48999;
            c.media.turn = Some(conclave::turn::TurnConfig {
                urls: urls.clone(),
                secret: config_secret,
                ttl_secs: 600,
            });
        },
        Arc::new(conclave::clock::SystemClock),
    )
    .await;
    let (code, _) = line_with_security(&s).await;
    let mut ada = Ws::connect(&s).await;
    let joined = ada.join(&code, Some("2468"), None, "Ada").await;
    assert_eq!(joined["type"], "joined", "{joined}");
    assert!(
        !joined.to_string().contains(&secret),
        "the secret stays on the server"
    );
    let servers = joined["ice_servers"].as_array().unwrap();
    let relay = servers.last().expect("the TURN server is offered");
    assert_eq!(
        relay["urls"][1],
        format!("turn:127.0.0.1:{}?transport=tcp", turn.port)
    );
    let user = relay["username"].as_str().unwrap();
    let password = relay["credential"].as_str().unwrap();
    let (expires, who) = user.split_once(':').unwrap();
    assert_eq!(who, joined["participant"].as_str().unwrap());
    let left = expires.parse::<i64>().unwrap() - chrono::Utc::now().timestamp();
    assert!((590..=600).contains(&left), "valid for ttl_secs: {left}");

    // Each participant has a credential of its own.
    let mut bob = Ws::connect(&s).await;
    let other = bob.join(&code, Some("2468"), None, "Bob").await;
    assert_ne!(
        other["ice_servers"].as_array().unwrap().last().unwrap()["username"],
        relay["username"]
    );

    assert!(
        allocates(turn.port, user, password, false),
        "a relay over UDP"
    );
    assert!(
        allocates(turn.port, user, password, true),
        "a relay over TCP"
    );
    let mut tampered = password.to_owned();
    tampered.replace_range(0..1, if password.starts_with('A') { "B" } else { "A" });
    assert!(
        !allocates(turn.port, user, &tampered, false),
        "a tampered credential is refused"
    );
    let later = format!("{}:{who}", expires.parse::<i64>().unwrap() + 3600);
    assert!(
        !allocates(turn.port, &later, password, false),
        "a stretched expiry is refused"
    );
}

#[test]
fn a_short_secret_is_refused_at_start_without_showing_it() {
    let mut c = common::config(Backend::Sqlite).0;
    c.media.turn = Some(conclave::turn::TurnConfig {
        urls: vec!["turn:turn.example.org:3478".into()],
        secret: "tiny-secret".into(),
        ttl_secs: 3600,
    });
    let err = c.validate().expect_err("refused").to_string();
    assert!(
        err.contains("media.turn") && !err.contains("tiny-secret"),
        "{err}"
    );
}
