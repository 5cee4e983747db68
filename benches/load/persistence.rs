//! The `persistence` scenario, against PostgreSQL (`--database-url`, else
//! `CONCLAVE_TEST_DATABASE_URL` or `DATABASE_URL`) in a schema of its own,
//! through a TCP proxy inside the tool that can delay every chunk or go down.
//!
//! 1. Moderator actions: a chair locks and unlocks a room of members, with
//!    the database answering at once and then 100 ms late (50 ms added to
//!    every chunk each way). Two latencies per action: to the room's effect
//!    (the chair's own `locked` event, what members see) and to the
//!    acknowledgement, which for a lock waits for the commit (`durable`).
//! 2. The same actions at 0 ms (measured before the delayed ones) while the account's webhook endpoint is a
//!    receiver that accepts connections and never answers: every action is
//!    an event in the outbox, and its deliveries hang until they time out.
//! 3. Throughput: with the database away, rooms of members post a backlog of
//!    chat; the database comes back and the tool times how fast the server
//!    commits it (`conclave_persisted_events_total{outcome="written"}`).

use std::time::{Duration, Instant};

use awc::ws::Message;
use futures_util::SinkExt;
use serde_json::{json, Value};

use super::proxy::{postgres_addr, TcpProxy};
use super::rooms::read_all;
use super::{bar, histogram, join, next, quantiles_ms, send, Args, Server, Ws};

/// The database URL to measure against.
pub fn database_url(args: &Args) -> String {
    args.database_url
        .clone()
        .or_else(|| std::env::var("CONCLAVE_TEST_DATABASE_URL").ok())
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .unwrap_or_else(|| {
            eprintln!("the persistence scenario needs PostgreSQL: --database-url or CONCLAVE_TEST_DATABASE_URL");
            std::process::exit(2);
        })
}

/// Times `n` lock/unlock actions: (to the effect, to the acknowledgement).
async fn actions(chair: &mut Ws, n: usize, label: &str) -> (Value, Value) {
    let mut effect = histogram();
    let mut acked = histogram();
    let progress = bar(n, label);
    for a in 0..n {
        let kind = if a % 2 == 0 { "lock" } else { "unlock" };
        let event = if a % 2 == 0 { "locked" } else { "unlocked" };
        let id = format!("{label}{a}");
        let sent = Instant::now();
        send(chair, json!({"type": kind, "id": id})).await;
        let (mut seen_effect, mut seen_ack) = (false, false);
        while !(seen_effect && seen_ack) {
            let m = tokio::time::timeout(Duration::from_secs(15), next(chair))
                .await
                .expect("an answer within 15 s")
                .expect("the chair's socket stays open");
            let us = sent.elapsed().as_micros().max(1) as u64;
            if m["type"] == event && !seen_effect {
                seen_effect = true;
                effect.record(us).unwrap();
            }
            if m["id"] == id.as_str() {
                assert_eq!(m["type"], "ack", "{m}");
                seen_ack = true;
                acked.record(us).unwrap();
            }
        }
        progress.inc(1);
        // 20 requests per second per connection: stay under it.
        let next_at = sent + Duration::from_millis(60);
        actix_web::rt::time::sleep(next_at.saturating_duration_since(Instant::now())).await;
    }
    progress.finish();
    (quantiles_ms(&effect), quantiles_ms(&acked))
}

pub async fn persistence(server: &Server, proxy: &TcpProxy, args: &Args) -> Value {
    // Moderator actions.
    let (token, code, pin) = server.account().await;
    let mut chair = server.connect().await;
    join(&mut chair, &code, Some(&pin), "Chair").await;
    for i in 0..args.members {
        let mut ws = server.connect().await;
        join(&mut ws, &code, None, &format!("M{i}")).await;
        read_all(ws, Default::default());
    }
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    let (effect_0, ack_0) = actions(&mut chair, args.actions, "at 0 ms").await;
    // Right after the 0 ms run, on the same warm connections, so the two
    // compare like for like.
    let (effect_hang, ack_hang) = match hanging_endpoint(server, &token).await {
        Some(_receiver) => actions(&mut chair, args.actions, "webhook hangs").await,
        None => (Value::Null, Value::Null),
    };
    proxy.set_delay(Duration::from_millis(50));
    // The pool's connections keep working, now slower.
    let (effect_100, ack_100) = actions(&mut chair, args.actions, "at 100 ms").await;
    proxy.set_delay(Duration::ZERO);

    // Throughput: a backlog built while the database is away.
    let rooms = args.rooms.max(1);
    let per_room = args.participants.max(1);
    let setup = bar(rooms * per_room, "members");
    let mut talkers = Vec::new();
    for _ in 0..rooms {
        let (code, _) = server.line().await;
        for i in 0..per_room {
            let mut ws = server.connect().await;
            join(&mut ws, &code, None, &format!("T{i}")).await;
            talkers.push(read_all(ws, Default::default()));
            setup.inc(1);
        }
    }
    setup.finish();
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    let before = server
        .metric("conclave_persisted_events_total{outcome=\"written\"}")
        .await;
    proxy.down();
    let rounds = args.chat_rounds.max(1);
    for r in 0..rounds {
        for t in &talkers {
            let mut ws = t.lock().await;
            for c in 0..20 {
                let m = json!({"type": "chat", "id": format!("c{r}-{c}"), "text": "persisted load message"});
                ws.send(Message::Text(m.to_string().into()))
                    .await
                    .expect("a chat is sent");
            }
        }
        // The token bucket refills 20 a second.
        actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    }
    let expected = (talkers.len() * 20 * rounds) as u64;
    proxy.up();
    let up = Instant::now();
    let progress = bar(expected as usize, "committed");
    let mut done = 0;
    // Timed from the first commit after the outage: the persister's retry
    // backoff (up to 5 s) is not write throughput.
    let mut first: Option<(Instant, u64)> = None;
    while up.elapsed() < Duration::from_secs(300) {
        done = server
            .metric("conclave_persisted_events_total{outcome=\"written\"}")
            .await
            .saturating_sub(before);
        progress.set_position(done);
        if first.is_none() && done > 0 {
            first = Some((Instant::now(), done));
        }
        if done >= expected {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
    progress.finish();
    let (since, at_first) = first.unwrap_or((up, 0));
    let secs = since.elapsed().as_secs_f64();
    let waited = since.duration_since(up).as_secs_f64();
    json!({
        "members": args.members,
        "action_to_effect_db_0ms": effect_0,
        "action_to_effect_db_100ms": effect_100,
        "action_ack_db_0ms": ack_0,
        "action_ack_db_100ms": ack_100,
        "action_to_effect_webhook_hangs": effect_hang,
        "action_ack_webhook_hangs": ack_hang,
        "effect_p99_ratio_webhook_hangs_over_0ms": effect_hang["p99_ms"].as_f64().unwrap_or(0.0) / effect_0["p99_ms"].as_f64().unwrap_or(1.0).max(1e-9),
        "effect_p99_ratio_100ms_over_0ms": effect_100["p99_ms"].as_f64().unwrap_or(0.0) / effect_0["p99_ms"].as_f64().unwrap_or(1.0).max(1e-9),
        "backlog_events": expected,
        "committed_events": done,
        "retry_wait_secs": waited,
        "commit_secs": secs,
        "persisted_events_per_sec": done.saturating_sub(at_first) as f64 / secs.max(1e-9),
        "server_rss_mib": server.usage().map(|(rss, _)| rss as f64 / 1024.0),
    })
}

/// A receiver that takes connections and never answers, made the
/// account's webhook endpoint for every event; `None` when the server
/// refuses it (a `--url` server that does not allow private addresses).
async fn hanging_endpoint(server: &Server, token: &str) -> Option<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.ok()?;
    let port = listener.local_addr().ok()?.port();
    let receiver = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let res = awc::Client::new()
        .post(format!("{}/api/v1/account/webhooks", server.base))
        .bearer_auth(token)
        .send_json(&json!({
            "url": format!("http://127.0.0.1:{port}/hook"),
            "events": ["conference.started", "participant.joined", "participant.left", "moderator.action"],
        }))
        .await
        .ok()?;
    if res.status() != 201 {
        eprintln!(
            "the server refused the hanging webhook endpoint ({}): that phase is skipped",
            res.status()
        );
        receiver.abort();
        return None;
    }
    Some(receiver)
}

/// Removes the run's schema once its server has stopped.
pub async fn drop_schema(url: &str, schema: &str) {
    match tokio_postgres::connect(url, tokio_postgres::NoTls).await {
        Ok((client, connection)) => {
            actix_web::rt::spawn(connection);
            if let Err(e) = client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .await
            {
                eprintln!("could not drop schema {schema}: {e}");
            }
        }
        Err(e) => eprintln!("could not drop schema {schema}: {e}"),
    }
}

/// The proxy and the server's settings for a run against PostgreSQL.
pub async fn proxy_for(url: &str) -> (TcpProxy, String) {
    let proxy = TcpProxy::start(postgres_addr(url)).await;
    let through = proxy.url_for(url);
    (proxy, through)
}
