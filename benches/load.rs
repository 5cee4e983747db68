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
//!   (messages delivered per second).
//!
//! - `media`: P publishers and S subscribers with WebRTC peers in one room
//!   (`load/media.rs`). Forwarded packets/s, server CPU per forwarded packet
//!   and per stream, loss, server memory per peer connection.
//!
//! - `phone`: C SIP callers (the tool's own user agents and RTP) in R rooms
//!   with W web participants each (`load/phone.rs`). Added mouth-to-ear
//!   latency both ways, loss, server CPU per caller, the mixer's CPU per
//!   20 ms frame.
//!
//! - `persistence`: against PostgreSQL through a delaying proxy
//!   (`load/persistence.rs`). Moderator-action latency with the database
//!   answering in 0 and in 100 ms; events committed per second; the export
//!   of an account with `--summaries` meetings (`load/export.rs`).

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix_codec::Framed;
use awc::ws::{Codec, Frame, Message};
use awc::BoxedSocket;
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};

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
#[path = "load/progress.rs"]
mod progress;
#[path = "../tests/common/proxy.rs"]
mod proxy;
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
        let mut text = String::from(
            "[media]\nbind_ip = \"127.0.0.1\"\nport_min = 50000\nport_max = 59999\npeer_to_peer = false\n\
             [webhooks]\nallow_http = true\nallow_private_addresses = true\n",
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

async fn churn(server: &Server, args: &Args) -> Value {
    let setup = bar(args.rooms, "accounts");
    let mut lines = Vec::new();
    for _ in 0..args.rooms {
        lines.push(server.line().await);
        setup.inc(1);
    }
    setup.finish();
    let base_usage = server.usage();
    let total = args.rooms * args.participants;
    let progress = bar(total, "joins");
    let latencies = Rc::new(RefCell::new(histogram()));
    let held: Rc<RefCell<Vec<Ws>>> = Rc::default();
    let permits = Rc::new(tokio::sync::Semaphore::new(args.concurrency));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..args.participants {
        for (code, _) in &lines {
            let (code, latencies, held, permits, progress) = (
                code.clone(),
                latencies.clone(),
                held.clone(),
                permits.clone(),
                progress.clone(),
            );
            let base = server.base.clone();
            tasks.push(actix_web::rt::spawn(async move {
                let _permit = permits.acquire().await.unwrap();
                let server = Server {
                    base,
                    sip_port: None,
                    child: None,
                    _dir: None,
                };
                let mut ws = server.connect().await;
                let took = join(&mut ws, &code, None, &format!("P{p}")).await;
                latencies
                    .borrow_mut()
                    .record(took.as_micros().max(1) as u64)
                    .unwrap();
                held.borrow_mut().push(ws);
                progress.inc(1);
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let join_secs = started.elapsed().as_secs_f64();
    progress.finish();
    let full_usage = server.usage();
    // Everyone leaves.
    let mut held = std::mem::take(&mut *held.borrow_mut());
    let leaving = Instant::now();
    for ws in &mut held {
        send(ws, json!({"type": "leave", "id": "l"})).await;
    }
    for ws in &mut held {
        while let Some(m) = next(ws).await {
            if m["id"] == "l" {
                break;
            }
        }
    }
    let leave_secs = leaving.elapsed().as_secs_f64();
    drop(held);
    let h = latencies.borrow();
    let mut result = json!({
        "participants": total,
        "joins_per_sec": total as f64 / join_secs,
        "join_latency": quantiles_ms(&h),
        "leaves_per_sec": total as f64 / leave_secs,
    });
    if let (Some((rss0, cpu0)), Some((rss1, cpu1))) = (base_usage, full_usage) {
        result["server_rss_mib"] = json!(rss1 as f64 / 1024.0);
        result["rss_per_participant_kib"] =
            json!((rss1.saturating_sub(rss0)) as f64 / total as f64);
        result["server_cpu_during_joins"] = json!((cpu1 - cpu0) / join_secs);
    }
    result
}

/// What the big room's members saw: when each action reached each of
/// them, and how many chat messages arrived, when the last did.
#[derive(Default)]
struct Seen {
    actions: Vec<Vec<Instant>>,
    chats: usize,
    last_chat: Option<Instant>,
}

type Tx = Rc<tokio::sync::Mutex<futures_util::stream::SplitSink<Ws, Message>>>;

/// Reads one member's socket for as long as it lives: answers pings,
/// timestamps actions, counts chat. Every member reads all the time, as a
/// healthy client does, so none becomes a slow consumer.
fn read_all(ws: Ws, seen: Rc<RefCell<Seen>>) -> Tx {
    let (tx, mut rx) = ws.split();
    let tx: Tx = Rc::new(tokio::sync::Mutex::new(tx));
    let pong = tx.clone();
    actix_web::rt::spawn(async move {
        let mut action = 0;
        while let Some(frame) = rx.next().await {
            let now = Instant::now();
            let m: Value = match frame {
                Ok(Frame::Text(b)) => serde_json::from_slice(&b).unwrap_or(Value::Null),
                Ok(Frame::Ping(p)) => {
                    let _ = pong.lock().await.send(Message::Pong(p)).await;
                    continue;
                }
                Ok(Frame::Close(_)) | Err(_) => break,
                Ok(_) => continue,
            };
            match m["type"].as_str() {
                Some("locked" | "unlocked") => {
                    let mut s = seen.borrow_mut();
                    if let Some(list) = s.actions.get_mut(action) {
                        list.push(now);
                    }
                    action += 1;
                }
                Some("chat") => {
                    let mut s = seen.borrow_mut();
                    s.chats += 1;
                    s.last_chat = Some(now);
                }
                _ => {}
            }
        }
    });
    tx
}

async fn big_room(server: &Server, args: &Args) -> Value {
    let (code, pin) = server.line().await;
    let mut chair = server.connect().await;
    join(&mut chair, &code, Some(&pin), "Chair").await;
    // The chair's own deliveries are not counted: it gets a throwaway tally.
    let chair = read_all(chair, Rc::default());
    let members = args.size.saturating_sub(1);
    let talkers_n = args.talkers.min(members);
    let seen = Rc::new(RefCell::new(Seen {
        actions: vec![Vec::new(); args.actions],
        ..Seen::default()
    }));
    let progress = bar(members, "joins");
    let mut talkers = Vec::new();
    for i in 0..members {
        let mut ws = server.connect().await;
        join(&mut ws, &code, None, &format!("M{i}")).await;
        progress.inc(1);
        if i < talkers_n {
            talkers.push(read_all(ws, Rc::default()));
        } else {
            read_all(ws, seen.clone());
        }
    }
    progress.finish();
    let readers_n = members - talkers_n;
    // Let the join fan-out drain before timing.
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    let mut to_last = histogram();
    let mut every = histogram();
    let acting = bar(args.actions, "actions");
    for a in 0..args.actions {
        let kind = if a % 2 == 0 { "lock" } else { "unlock" };
        let request = Message::Text(
            json!({"type": kind, "id": format!("a{a}")})
                .to_string()
                .into(),
        );
        let sent = Instant::now();
        chair
            .lock()
            .await
            .send(request)
            .await
            .expect("the chair's frame is sent");
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.borrow().actions[a].len() < readers_n && Instant::now() < deadline {
            actix_web::rt::time::sleep(Duration::from_micros(200)).await;
        }
        {
            let s = seen.borrow();
            for t in &s.actions[a] {
                every
                    .record(t.duration_since(sent).as_micros().max(1) as u64)
                    .unwrap();
            }
            if let Some(last) = s.actions[a].iter().max() {
                to_last
                    .record(last.duration_since(sent).as_micros().max(1) as u64)
                    .unwrap();
            }
        }
        acting.inc(1);
        // A connection may send 20 requests per second: stay under it.
        let next_at = sent + Duration::from_millis(60);
        actix_web::rt::time::sleep(next_at.saturating_duration_since(Instant::now())).await;
    }
    acting.finish();
    let missed: usize = seen
        .borrow()
        .actions
        .iter()
        .map(|d| readers_n - d.len().min(readers_n))
        .sum();
    // Chat flood: every talker sends its messages at once. The total per
    // member stays under its queue (256): the tool reads 1,000 sockets on
    // one thread, and a member it cannot read fast enough would rightly be
    // disconnected as a slow consumer.
    let flood_started = Instant::now();
    for t in &talkers {
        let mut t = t.lock().await;
        for c in 0..args.chats {
            let m = json!({"type": "chat", "id": format!("c{c}"), "text": "load test message"});
            t.send(Message::Text(m.to_string().into()))
                .await
                .expect("a chat is sent");
        }
    }
    let expected = talkers_n * args.chats * readers_n;
    let deadline = Instant::now() + Duration::from_secs(120);
    let flood = bar(expected, "deliveries");
    loop {
        let got = seen.borrow().chats;
        flood.set_position(got as u64);
        if got >= expected || Instant::now() > deadline {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
    flood.finish();
    let s = seen.borrow();
    let flood_secs = s
        .last_chat
        .map_or(0.0, |t| t.duration_since(flood_started).as_secs_f64());
    json!({
        "members": args.size,
        "action_to_last_delivery": quantiles_ms(&to_last),
        "action_to_each_delivery": quantiles_ms(&every),
        "action_deliveries_missed": missed,
        "chat_deliveries": s.chats,
        "chat_deliveries_expected": expected,
        "messages_delivered_per_sec": s.chats as f64 / flood_secs.max(1e-9),
        "server_rss_mib": server.usage().map(|(rss, _)| rss as f64 / 1024.0),
    })
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
            "churn" => churn(&server, &args).await,
            "big-room" => big_room(&server, &args).await,
            "media" => media::media(&server, &args).await,
            "phone" => phone::phone(&server, &args).await,
            "persistence" => {
                let mut p = persistence::persistence(&server, &db.as_ref().unwrap().0, &args).await;
                let url = persistence::database_url(&args);
                p["export"] = export::export(&server, &url, &schema, args.summaries).await;
                p
            }
            other => {
                eprintln!(
                    "unknown scenario {other:?}: churn, big-room, media, phone or persistence"
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
        let churned = churn(&server, &args).await;
        assert_eq!(churned["participants"], 6, "{churned}");
        assert_eq!(churned["join_latency"]["count"], 6, "{churned}");
        let big = big_room(&server, &args).await;
        assert_eq!(big["action_deliveries_missed"], 0, "{big}");
        assert_eq!(
            big["chat_deliveries"], big["chat_deliveries_expected"],
            "{big}"
        );
        let m = media::media(&server, &args).await;
        assert!(m["forwarded_packets"].as_u64().unwrap() > 0, "{m}");
        assert!(m["received_packets"].as_u64().unwrap() > 0, "{m}");
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
