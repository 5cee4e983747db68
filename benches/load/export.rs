//! The account export, at size (part of the `persistence` scenario): an
//! account whose line held N finished meetings downloads its archive.
//! The meetings are written straight into the run's schema, as the
//! persister writes them (three seats, two chat messages and a moderator
//! action each), first `--summaries / 10` of them and then the rest, and
//! the archive is downloaded at both sizes. Each download reports its
//! bytes, its time, and how far the server's RSS rose above where it was
//! before (sampled every 20 ms while the archive streams): memory that
//! grows with the account's size would show as the second figure being
//! ten times the first. Then the account's retention is set so that half
//! the meetings have expired, and the retention job's run is timed.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};

use super::{bar, Server};

/// A connection to the run's schema.
async fn connect(url: &str, schema: &str) -> tokio_postgres::Client {
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
    client
}

/// Writes `n` more finished meetings of `line`, an hour apart, into `schema`.
async fn seed(url: &str, schema: &str, line: uuid::Uuid, n: usize, offset: usize) {
    let client = connect(url, schema).await;
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

/// Samples the server's RSS every 20 ms until dropped; `rise` answers the
/// peak above where it was at the start, in MiB.
struct RssWatch {
    before: Option<u64>,
    peak: std::sync::Arc<std::sync::atomic::AtomicU64>,
    sampling: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sampler: Option<std::thread::JoinHandle<()>>,
}

impl RssWatch {
    fn start(server: &Server) -> Self {
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
        Self {
            before,
            peak,
            sampling,
            sampler: Some(sampler),
        }
    }

    fn rise(mut self) -> Option<f64> {
        self.sampling
            .store(false, std::sync::atomic::Ordering::Relaxed);
        if let Some(s) = self.sampler.take() {
            let _ = s.join();
        }
        let peak = self.peak.load(std::sync::atomic::Ordering::Relaxed);
        self.before.map(|b| peak.saturating_sub(b) as f64 / 1024.0)
    }
}

/// Sets the account's summary retention so that about half its meetings
/// have expired, and waits for the job (every second here) to delete them:
/// how many went, the job's own time for it (from its `history_deleted`
/// link to its `retention` link, by the server's clock) and the server's
/// RSS rise meanwhile.
async fn retention(
    server: &Server,
    url: &str,
    schema: &str,
    line: uuid::Uuid,
    token: &str,
    summaries: usize,
) -> Value {
    let client = connect(url, schema).await;
    let count = || async {
        client
            .query_one(
                "SELECT count(*) FROM conference_sessions WHERE conference_id = $1",
                &[&line],
            )
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    let before = count().await;
    // The meetings are an hour apart, back from now: half of them are
    // older than this many days.
    let days = (summaries / 2 / 24).max(1);
    let expiring: i64 = client
        .query_one(
            "SELECT count(*) FROM conference_sessions WHERE conference_id = $1 \
             AND ended_at < now() - $2::int * interval '1 day'",
            &[&line, &(days as i32)],
        )
        .await
        .unwrap()
        .get(0);
    if expiring == 0 {
        return json!({"summary_days": days, "summaries_deleted": 0});
    }
    let watch = RssWatch::start(server);
    let res = awc::Client::new()
        .put(format!("{}/api/v1/account/retention", server.base))
        .bearer_auth(token)
        .send_json(&json!({"summary_days": days}))
        .await
        .expect("the retention answers");
    assert_eq!(res.status().as_u16(), 200, "the retention is set");
    let deadline = Instant::now() + Duration::from_secs(300);
    let links = loop {
        let rows = client
            .query(
                "SELECT kind, (extract(epoch from at) * 1000)::bigint FROM audit_chain \
                 WHERE kind IN ('history_deleted', 'retention') ORDER BY seq",
                &[],
            )
            .await
            .unwrap();
        if rows.iter().any(|r| r.get::<_, String>(0) == "retention") {
            break rows;
        }
        assert!(Instant::now() < deadline, "the retention job runs");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    };
    let rise = watch.rise();
    let at = |kind: &str| {
        links
            .iter()
            .find(|r| r.get::<_, String>(0) == kind)
            .map(|r| r.get::<_, i64>(1))
    };
    let after = count().await;
    json!({
        "summary_days": days,
        "summaries_before": before,
        "summaries_deleted": before - after,
        "job_seconds": at("retention").zip(at("history_deleted")).map(|(end, start)| (end - start) as f64 / 1000.0),
        "server_rss_rise_mib": rise,
    })
}

/// Downloads the account's archive: its bytes, seconds and the server's
/// RSS rise while it streamed.
async fn download(server: &Server, token: &str) -> Value {
    let watch = RssWatch::start(server);
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
    json!({
        "archive_mib": bytes as f64 / 1_048_576.0,
        "seconds": secs,
        "mib_per_sec": bytes as f64 / 1_048_576.0 / secs,
        "server_rss_rise_mib": watch.rise(),
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
    let expired = retention(server, url, schema, line, &token, summaries.max(small)).await;
    json!({
        "summaries_small": small,
        "small": first,
        "summaries": summaries.max(small),
        "large": second,
        "retention": expired,
    })
}
