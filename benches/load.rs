//! The load tool: real WebSocket clients against a release server on
//! loopback. `cargo bench --bench load -- SCENARIO [options]` starts the
//! server it measures (the `conclave` binary of this build, on SQLite in a
//! temporary directory) unless `--url` names one, shows progress, prints a
//! summary and writes a JSON result; `--compare OLD.json` prints the ratios
//! against an earlier run. Latencies go into hdrhistograms.
//!
//! Scenarios (docs/performance.md has the commands and the figures):
//! - `churn`: R rooms × P participants join, hold, and leave. Joins/s, join
//!   latency p50/p99, server RSS per participant and CPU.
//! - `big-room`: one room of N participants; a moderator locks and unlocks
//!   (action-to-last-delivery p50/p99/max), then talkers flood chat
//!   (messages delivered per second). Both in `load/rooms.rs`.
//!
//! - `media`: P publishers and S subscribers with WebRTC peers in one room
//!   (`load/media.rs`). Forwarded packets/s, server CPU per forwarded packet
//!   and per stream, loss, server memory per peer connection. `simulcast`:
//!   the same with every camera in three layers and each subscriber asking
//!   for one size.
//!
//! - `phone`: C SIP callers (the tool's own user agents and RTP) in R rooms
//!   with W web participants each (`load/phone.rs`, `load/phone_web.rs`). Added mouth-to-ear
//!   latency both ways, loss, server CPU per caller, the mixer's CPU per
//!   20 ms frame.
//!
//! - `persistence`: against PostgreSQL through a delaying proxy
//!   (`load/persistence.rs`). Moderator-action latency with the database
//!   answering in 0 and in 100 ms; events committed per second; the export
//!   of an account with `--summaries` meetings (`load/export.rs`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use actix_codec::Framed;
use awc::ws::{Codec, Frame, Message};
use awc::BoxedSocket;
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};

#[path = "load/calibration.rs"]
mod calibration;
#[path = "../tests/common/peer.rs"]
mod client_peer;
#[path = "load/export.rs"]
mod export;
#[path = "load/media.rs"]
mod media;
#[path = "load/persistence.rs"]
mod persistence;
#[path = "load/phone.rs"]
mod phone;
#[path = "load/phone_web.rs"]
mod phone_web;
#[path = "load/progress.rs"]
mod progress;
#[path = "../tests/common/proxy.rs"]
mod proxy;
#[path = "load/rooms.rs"]
mod rooms;
#[path = "load/simulcast.rs"]
mod simulcast;
#[path = "../tests/common/sip_uac.rs"]
mod sip_uac;

#[derive(Parser, Debug)]
#[command(about = "Conclave's load tool")]
struct Args {
    /// `churn`, `big-room`, `media`, `phone` or `persistence`. Without one (as under `cargo test`), a small
    /// smoke run of both checks that the tool works.
    scenario: Option<String>,
    /// Measure a running server instead of starting one (no RSS/CPU then).
    #[arg(long)]
    url: Option<String>,
    /// churn: rooms.
    #[arg(long, default_value_t = 100)]
    rooms: usize,
    /// churn: participants per room.
    #[arg(long, default_value_t = 10)]
    participants: usize,
    /// churn: joins in flight at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// big-room: people in the room, the moderator who acts included.
    #[arg(long, default_value_t = 1000)]
    size: usize,
    /// big-room: lock/unlock actions to time.
    #[arg(long, default_value_t = 100)]
    actions: usize,
    /// big-room: participants who chat.
    #[arg(long, default_value_t = 10)]
    talkers: usize,
    /// big-room: messages each talker sends (within the 40-request burst).
    #[arg(long, default_value_t = 20)]
    chats: usize,
    /// media: participants who publish audio and video.
    #[arg(long, default_value_t = 4)]
    publishers: usize,
    /// media: participants who only receive.
    #[arg(long, default_value_t = 16)]
    subscribers: usize,
    /// media: video packets per second per publisher (audio is 50).
    #[arg(long, default_value_t = 100)]
    video_pps: u32,
    /// media, phone: seconds measured once everyone receives.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// phone: SIP callers, spread over the rooms.
    #[arg(long, default_value_t = 200)]
    callers: usize,
    /// phone: rooms.
    #[arg(long, default_value_t = 20)]
    phone_rooms: usize,
    /// phone: web participants per room who speak (publish a microphone);
    /// with 0, one listens.
    #[arg(long, default_value_t = 1)]
    speakers: usize,
    /// persistence: PostgreSQL to measure against [default:
    /// CONCLAVE_TEST_DATABASE_URL, then DATABASE_URL].
    #[arg(long)]
    database_url: Option<String>,
    /// persistence: members of the room the chair acts in.
    #[arg(long, default_value_t = 50)]
    members: usize,
    /// persistence: bursts of 20 chat messages per talker for the backlog.
    #[arg(long, default_value_t = 2)]
    chat_rounds: usize,
    /// persistence: finished meetings of the account whose export is timed
    /// (a tenth of them first, then all).
    #[arg(long, default_value_t = 10_000)]
    summaries: usize,
    /// Where to write the JSON result [default: target/load/SCENARIO-TIME.json].
    #[arg(long)]
    out: Option<PathBuf>,
    /// An earlier JSON result to compare with.
    #[arg(long)]
    compare: Option<PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
    /// Passed by some `cargo test` runs; ignored.
    #[arg(long, hide = true)]
    test: bool,
}

type Ws = Framed<BoxedSocket, Codec>;

/// The server under test.
struct Server {
    base: String,
    /// The SIP edge's port (UDP), when the tool started the server with one.
    sip_port: Option<u16>,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// The encryption key of a server the tool started (it made one in
    /// its data directory); `None` for a server given by URL.
    fn encryption_key(&self) -> Option<conclave::secrets::SecretKey> {
        let dir = self._dir.as_ref()?;
        let text = std::fs::read_to_string(dir.path().join("data").join("encryption.key")).ok()?;
        conclave::secrets::SecretKey::from_hex("encryption.key", &text).ok()
    }

    async fn start(url: Option<String>) -> Self {
        Self::start_with(url, None, false).await
    }

    /// Starts the server, on PostgreSQL at `database` in `schema` when
    /// given, else on SQLite; with a SIP edge when `sip`.
    async fn start_with(
        url: Option<String>,
        database: Option<(String, String)>,
        sip: bool,
    ) -> Self {
        if let Some(base) = url {
            return Self {
                base,
                sip_port: None,
                child: None,
                _dir: None,
            };
        }
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Media on loopback, always through the server (two would otherwise
        // talk end to end).
        let config = dir.path().join("conclave.toml");
        // CONCLAVE_LOAD_MEDIA: more lines for the server's [media] section
        // (`adapt_to_bandwidth = false`, say, to measure what it costs).
        let media = std::env::var("CONCLAVE_LOAD_MEDIA").unwrap_or_default();
        let mut text = format!(
            "[media]\nbind_ip = \"127.0.0.1\"\nport_min = 50000\nport_max = 59999\npeer_to_peer = false\n{media}\n\
             [webhooks]\nallow_http = true\nallow_private_addresses = true\n\
             [retention]\ninterval_secs = 1\n",
        );
        // Callers from loopback only, as many and as fast as the scenario
        // dials them.
        let sip_port = sip.then(|| {
            let port = std::net::UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            text.push_str(&format!(
                "[sip]\nlisten = \"127.0.0.1:{port}\"\nrtp_port_min = 40000\nrtp_port_max = 41999\n\
                 max_calls = 1000\ninvites_per_minute = 100000\n\
                 [[sip.trunks]]\nname = \"load\"\naddresses = [\"127.0.0.0/8\"]\n"
            ));
            port
        });
        std::fs::write(&config, text).unwrap();
        // A profiler to run the server under (`heaptrack`, `perf record
        // -g --`): the figures are then the profiler's, the profile is what
        // counts.
        let mut command = match std::env::var("CONCLAVE_LOAD_WRAPPER") {
            Ok(wrapper) if !wrapper.trim().is_empty() => {
                let mut words = wrapper.split_whitespace();
                let mut c = Command::new(words.next().unwrap_or_default());
                c.args(words).arg(env!("CARGO_BIN_EXE_conclave"));
                c
            }
            _ => Command::new(env!("CARGO_BIN_EXE_conclave")),
        };
        command.env_remove("DATABASE_URL");
        if let Some((db, schema)) = database {
            command
                .env("DATABASE_URL", db)
                .env("CONCLAVE_DATABASE_SCHEMA", schema);
        }
        let child = command
            .env("CONCLAVE_CONFIG", &config)
            .env("CONCLAVE_DATA_DIR", dir.path().join("data"))
            .env("CONCLAVE_BIND", format!("127.0.0.1:{port}"))
            .env("CONCLAVE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the conclave binary starts");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !matches!(awc::Client::default().get(format!("{base}/readyz")).send().await, Ok(r) if r.status().is_success())
        {
            assert!(Instant::now() < deadline, "the server never became ready");
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            base,
            sip_port,
            child: Some(child),
            _dir: Some(dir),
        }
    }

    /// (RSS in KiB, CPU seconds used so far), when the tool started it.
    fn usage(&self) -> Option<(u64, f64)> {
        let pid = self.child.as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let rss = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        if let Some(cpu) = process_cpu_seconds(pid) {
            return Some((rss, cpu));
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        Some((rss, ticks / 100.0))
    }

    /// (anonymous RSS, file-backed RSS) in KiB, when the tool started it.
    /// Connections cost anonymous memory; file-backed pages are the
    /// executable's code, faulted in once, the first time a path runs.
    fn memory(&self) -> Option<(u64, u64)> {
        let pid = self.child.as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| -> Option<u64> {
            status
                .lines()
                .find(|l| l.starts_with(name))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        };
        Some((field("RssAnon:")?, field("RssFile:")?))
    }

    /// A new account's line: (access code, moderator PIN).
    async fn line(&self) -> (String, String) {
        let (_, code, pin) = self.account().await;
        (code, pin)
    }

    /// A new account: (its API token, its line's access code, moderator PIN).
    async fn account(&self) -> (String, String, String) {
        let email = format!("load-{}@example.org", uuid::Uuid::new_v4().simple());
        let mut res = awc::Client::builder()
            .timeout(Duration::from_secs(60))
            .finish()
            .post(format!("{}/api/v1/accounts", self.base))
            .send_json(
                &json!({"email": email, "password": "load test password", "display_name": "Load"}),
            )
            .await
            .expect("sign-up answers");
        let body: Value = res.json().await.expect("sign-up JSON");
        (
            body["session"]["token"]
                .as_str()
                .expect("a session")
                .to_owned(),
            body["line"]["access_code"]
                .as_str()
                .expect("a line")
                .to_owned(),
            body["moderator_pin"].as_str().unwrap().to_owned(),
        )
    }

    /// One counter or gauge from `/metrics`, by its full name and labels
    /// (0 while it is absent).
    async fn metric(&self, series: &str) -> u64 {
        let mut res = awc::Client::new()
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics answer");
        let body = res.body().await.expect("metrics body");
        let prefix = format!("{series} ");
        String::from_utf8_lossy(&body)
            .lines()
            .find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
            .map_or(0, |v| v.trim().parse().unwrap_or(0))
    }

    async fn connect(&self) -> Ws {
        let url = format!("{}/ws", self.base).replacen("http", "ws", 1);
        let (_, ws) = awc::Client::builder()
            .timeout(Duration::from_secs(60))
            .finish()
            .ws(url)
            .max_frame_size(1 << 20)
            .connect()
            .await
            .expect("the WebSocket opens");
        ws
    }
}

/// A process's CPU time (all its threads), in seconds to the nanosecond:
/// /proc's clock ticks are 10 ms, a fiftieth of a ten-second window's
/// server time.
fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: both calls write only to the locals passed to them.
    unsafe {
        if libc::clock_getcpuclockid(i32::try_from(pid).ok()?, &mut clock) != 0 {
            return None;
        }
        let mut ts: libc::timespec = std::mem::zeroed();
        if libc::clock_gettime(clock, &mut ts) != 0 {
            return None;
        }
        Some(ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9)
    }
}

/// The load tool's own CPU time, in seconds: its clients share the
/// machine with the server, and what they cost changes what the server's
/// figures mean.
fn own_cpu_seconds() -> f64 {
    process_cpu_seconds(std::process::id()).unwrap_or(0.0)
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

/// The next JSON message (pings answered).
async fn next(ws: &mut Ws) -> Option<Value> {
    loop {
        match ws.next().await? {
            Ok(Frame::Text(b)) => return serde_json::from_slice(&b).ok(),
            Ok(Frame::Ping(p)) => {
                let _ = ws.send(Message::Pong(p)).await;
            }
            Ok(Frame::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into()))
        .await
        .expect("a frame is sent");
}

/// Joins; returns the latency to `joined`.
async fn join(ws: &mut Ws, code: &str, pin: Option<&str>, name: &str) -> Duration {
    let started = Instant::now();
    send(
        ws,
        json!({"type": "join", "id": "j", "access_code": code, "moderator_pin": pin, "name": name}),
    )
    .await;
    loop {
        let m = next(ws).await.expect("an answer to join");
        if m["id"] == "j" {
            assert_eq!(m["type"], "joined", "{m}");
            return started.elapsed();
        }
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).unwrap()
}

fn quantiles_ms(h: &Histogram<u64>) -> Value {
    let ms = |us: u64| us as f64 / 1000.0;
    json!({
        "p50_ms": ms(h.value_at_quantile(0.5)),
        "p99_ms": ms(h.value_at_quantile(0.99)),
        "max_ms": ms(h.max()),
        "count": h.len(),
    })
}

fn bar(len: usize, what: &str) -> progress::Progress {
    progress::Progress::new(len, what)
}

/// Numeric leaves of a JSON value, by dotted path.
fn leaves(v: &Value, prefix: String, out: &mut Vec<(String, f64)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(v, p, out);
            }
        }
        Value::Number(n) => out.push((prefix, n.as_f64().unwrap_or(0.0))),
        _ => {}
    }
}

fn main() {
    let args = Args::parse();
    let Some(scenario) = args.scenario.clone() else {
        return smoke(args);
    };
    actix_web::rt::System::new().block_on(async {
        let db = if scenario == "persistence" {
            let url = persistence::database_url(&args);
            Some(persistence::proxy_for(&url).await)
        } else {
            None
        };
        let schema = format!("load_{}", uuid::Uuid::new_v4().simple());
        let server = Server::start_with(
            args.url.clone(),
            db.as_ref().map(|(_, u)| (u.clone(), schema.clone())),
            scenario == "phone",
        )
        .await;
        let figures = match scenario.as_str() {
            "churn" => rooms::churn(&server, &args).await,
            "big-room" => rooms::big_room(&server, &args).await,
            "media" => media::media(&server, &args, false).await,
            "simulcast" => media::media(&server, &args, true).await,
            "phone" => phone::phone(&server, &args).await,
            "persistence" => {
                let mut p = persistence::persistence(&server, &db.as_ref().unwrap().0, &args).await;
                let url = persistence::database_url(&args);
                p["export"] = export::export(&server, &url, &schema, args.summaries).await;
                p
            }
            other => {
                eprintln!(
                    "unknown scenario {other:?}: churn, big-room, media, simulcast, phone or persistence"
                );
                std::process::exit(2);
            }
        };
        if db.is_some() {
            drop(server);
            persistence::drop_schema(&persistence::database_url(&args), &schema).await;
        }
        let result = json!({
            "scenario": scenario,
            "at": chrono::Utc::now().to_rfc3339(),
            "machine": {
                "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
                "os": std::env::consts::OS,
            },
            "args": format!("{args:?}"),
            "figures": figures,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&result["figures"]).unwrap()
        );
        let out = args.out.clone().unwrap_or_else(|| {
            PathBuf::from("target/load").join(format!(
                "{}-{}.json",
                scenario,
                chrono::Utc::now().format("%Y%m%dT%H%M%S")
            ))
        });
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(&out, serde_json::to_string_pretty(&result).unwrap()).unwrap();
        println!("written to {}", out.display());
        if let Some(old) = &args.compare {
            let old: Value = serde_json::from_str(&std::fs::read_to_string(old).unwrap()).unwrap();
            let (mut new_leaves, mut old_leaves) = (Vec::new(), Vec::new());
            leaves(&result["figures"], String::new(), &mut new_leaves);
            leaves(&old["figures"], String::new(), &mut old_leaves);
            println!(
                "{:<45} {:>12} {:>12} {:>8}",
                "figure", "before", "now", "ratio"
            );
            for (k, now) in new_leaves {
                if let Some((_, before)) = old_leaves.iter().find(|(o, _)| *o == k) {
                    let ratio = if *before == 0.0 {
                        f64::NAN
                    } else {
                        now / before
                    };
                    println!("{k:<45} {before:>12.3} {now:>12.3} {ratio:>8.2}");
                }
            }
        }
    });
}

/// Both scenarios at a tiny size, checked for complete deliveries: what
/// `cargo test --all-targets` runs, so the tool cannot rot unnoticed.
fn smoke(mut args: Args) {
    args.rooms = 2;
    args.participants = 3;
    args.size = 6;
    args.actions = 4;
    args.talkers = 2;
    args.chats = 3;
    args.publishers = 1;
    args.subscribers = 1;
    args.seconds = 1;
    actix_web::rt::System::new().block_on(async {
        let server = Server::start(args.url.clone()).await;
        let churned = rooms::churn(&server, &args).await;
        assert_eq!(churned["participants"], 6, "{churned}");
        assert_eq!(churned["join_latency"]["count"], 6, "{churned}");
        let big = rooms::big_room(&server, &args).await;
        assert_eq!(big["action_deliveries_missed"], 0, "{big}");
        assert_eq!(
            big["chat_deliveries"], big["chat_deliveries_expected"],
            "{big}"
        );
        for simulcast in [false, true] {
            let m = media::media(&server, &args, simulcast).await;
            assert!(m["forwarded_packets"].as_u64().unwrap() > 0, "{m}");
            assert!(m["received_packets"].as_u64().unwrap() > 0, "{m}");
        }
        drop(server);
        // Two callers and a web speaker: each direction times its tones.
        args.callers = 2;
        args.phone_rooms = 1;
        args.speakers = 1;
        args.seconds = 3;
        let with_sip = Server::start_with(None, None, true).await;
        let p = phone::phone(&with_sip, &args).await;
        drop(with_sip);
        assert_eq!(p["callers_seated"], 2, "{p}");
        for way in ["caller_to_web", "web_to_caller"] {
            assert!(
                p[format!("latency_{way}")]["count"].as_u64() > Some(0),
                "{p}"
            );
        }
        assert!(p["mix_ticks_per_sec"].as_f64() > Some(0.0), "{p}");
        // Persistence wants PostgreSQL, which `scripts/test` always provides.
        if let Ok(url) = std::env::var("CONCLAVE_TEST_DATABASE_URL") {
            args.members = 3;
            args.chat_rounds = 1;
            let (proxy, through) = persistence::proxy_for(&url).await;
            let schema = format!("load_{}", uuid::Uuid::new_v4().simple());
            let on_pg = Server::start_with(None, Some((through, schema.clone())), false).await;
            let p = persistence::persistence(&on_pg, &proxy, &args).await;
            let exported = export::export(&on_pg, &url, &schema, 20).await;
            drop(on_pg);
            assert!(
                exported["large"]["archive_mib"].as_f64()
                    > exported["small"]["archive_mib"].as_f64(),
                "{exported}"
            );
            persistence::drop_schema(&url, &schema).await;
            assert_eq!(p["committed_events"], p["backlog_events"], "{p}");
            assert_eq!(p["action_ack_db_100ms"]["count"], 4, "{p}");
            assert_eq!(p["action_ack_webhook_hangs"]["count"], 4, "{p}");
        }
        println!("load tool smoke run: ok");
    });
}
