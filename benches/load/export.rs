//! The account export, at size (part of the `persistence` scenario): an
//! account whose line held N finished meetings downloads its archive.
//! The meetings are written straight into the run's schema, as the
//! persister writes them (three seats, two chat messages and a moderator
//! action each), first `--summaries / 10` of them and then the rest, and
//! the archive is downloaded at both sizes. Each download reports its
//! bytes, its time, and how far the server's RSS rose above where it was
//! before (sampled every 20 ms while the archive streams): memory that
//! grows with the account's size would show as the second figure being
//! ten times the first.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};

use super::{bar, Server};

/// Writes `n` more finished meetings of `line`, an hour apart, into `schema`.
async fn seed(url: &str, schema: &str, line: uuid::Uuid, n: usize, offset: usize) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL answers");
    actix_web::rt::spawn(async move {
        let _ = connection.await;
    });
    client
        .batch_execute(&format!("SET search_path TO {schema}"))
        .await
        .unwrap();
    let (from, to) = (offset as i32 + 1, (offset + n) as i32);
    client
        .execute(
            "INSERT INTO conference_sessions (id, conference_id, started_at, ended_at, node_id) \
             SELECT gen_random_uuid(), $1, now() - i * interval '1 hour', \
                    now() - i * interval '1 hour' + interval '30 minutes', gen_random_uuid() \
             FROM generate_series($2::INT, $3::INT) i",
            &[&line, &from, &to],
        )
        .await
        .unwrap();
    let fresh = "SELECT id, started_at, ended_at FROM conference_sessions \
                 WHERE conference_id = $1 AND NOT EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = conference_sessions.id)";
    client
        .execute(
            &format!(
                "INSERT INTO attendance (participant_id, session_id, name, endpoint, role, joined_at, left_at, left_reason) \
                 SELECT gen_random_uuid(), s.id, 'Seat ' || k, 'web', 'participant', s.started_at, s.ended_at, 'left' \
                 FROM ({fresh}) s, generate_series(1, 3) k"
            ),
            &[&line],
        )
        .await
        .unwrap();
    let chatless = "SELECT id, started_at FROM conference_sessions \
                    WHERE conference_id = $1 AND NOT EXISTS (SELECT 1 FROM chat_messages m WHERE m.session_id = conference_sessions.id)";
    client
        .execute(
            &format!(
                "INSERT INTO chat_messages (id, conference_id, session_id, sender, sender_name, text, posted_at) \
                 SELECT gen_random_uuid(), $1, s.id, gen_random_uuid(), 'Seat 1', 'a message the load tool wrote', s.started_at \
                 FROM ({chatless}) s, generate_series(1, 2) k"
            ),
            &[&line],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO audit_log (id, conference_id, session_id, actor, action, at) \
             SELECT gen_random_uuid(), $1, s.id, gen_random_uuid(), 'lock', s.started_at \
             FROM conference_sessions s WHERE s.conference_id = $1 \
             AND NOT EXISTS (SELECT 1 FROM audit_log l WHERE l.session_id = s.id)",
            &[&line],
        )
        .await
        .unwrap();
}

/// Downloads the account's archive: its bytes, seconds and the server's
/// RSS rise while it streamed.
async fn download(server: &Server, token: &str) -> Value {
    let before = server.usage().map(|(rss, _)| rss);
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before.unwrap_or(0)));
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let pid = server.child.as_ref().map(|c| c.id());
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        std::thread::spawn(move || {
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(rss) = pid.and_then(rss_kib) {
                    peak.fetch_max(rss, std::sync::atomic::Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let started = Instant::now();
    let mut res = awc::Client::builder()
        .timeout(Duration::from_secs(600))
        .finish()
        .get(format!("{}/api/v1/account/export", server.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("the export answers");
    assert_eq!(res.status().as_u16(), 200, "the export is served");
    let mut bytes = 0u64;
    while let Some(chunk) = res.next().await {
        bytes += chunk.expect("the archive streams").len() as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let _ = sampler.join();
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    json!({
        "archive_mib": bytes as f64 / 1_048_576.0,
        "seconds": secs,
        "mib_per_sec": bytes as f64 / 1_048_576.0 / secs,
        "server_rss_rise_mib": before.map(|b| peak.saturating_sub(b) as f64 / 1024.0),
    })
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub async fn export(server: &Server, url: &str, schema: &str, summaries: usize) -> Value {
    let (token, _, _) = server.account().await;
    let line: Value = awc::Client::new()
        .get(format!("{}/api/v1/account/line", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("the line answers")
        .json()
        .await
        .expect("the line as JSON");
    let line: uuid::Uuid = line["id"].as_str().unwrap().parse().unwrap();
    let small = (summaries / 10).max(1);
    let progress = bar(2, "exports");
    seed(url, schema, line, small, 0).await;
    let first = download(server, &token).await;
    progress.inc(1);
    seed(url, schema, line, summaries.saturating_sub(small), small).await;
    let second = download(server, &token).await;
    progress.finish();
    json!({
        "summaries_small": small,
        "small": first,
        "summaries": summaries.max(small),
        "large": second,
    })
}
