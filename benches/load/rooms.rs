//! The `churn` and `big-room` scenarios: real WebSocket clients joining,
//! holding and leaving many rooms, and one big room whose moderator acts
//! while talkers flood chat (figures in docs/performance.md).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use awc::ws::{Frame, Message};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

use super::{bar, histogram, join, next, quantiles_ms, send, Args, Server, Ws};

pub(super) async fn churn(server: &Server, args: &Args) -> Value {
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
pub(super) struct Seen {
    actions: Vec<Vec<Instant>>,
    chats: usize,
    last_chat: Option<Instant>,
}

pub(super) type Tx = Rc<tokio::sync::Mutex<futures_util::stream::SplitSink<Ws, Message>>>;

/// Reads one member's socket for as long as it lives: answers pings,
/// timestamps actions, counts chat. Every member reads all the time, as a
/// healthy client does, so none becomes a slow consumer.
pub(super) fn read_all(ws: Ws, seen: Rc<RefCell<Seen>>) -> Tx {
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

pub(super) async fn big_room(server: &Server, args: &Args) -> Value {
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
