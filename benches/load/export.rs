//! The account export, at size (part of the `persistence` scenario): an
//! account whose line held N finished meetings downloads its archive.
//! The meetings are written straight into the run's schema, as the
//! persister writes them (three seats, two chat messages and a moderator
//! action each; each with its own key and sealed names and chat, when the
//! tool started the server and so knows its encryption key), first `--summaries / 10` of them and then the rest, and
//! the archive is downloaded at both sizes. Each download reports its
//! bytes, its time, and how far the server's RSS rose above where it was
//! before (sampled every 20 ms while the archive streams): memory that
//! grows with the account's size would show as the second figure being
//! ten times the first. Then the account's retention is set so that half
//! the meetings have expired, and the retention job's run is timed.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};

use conclave::secrets::SecretKey;
use conclave::summary_keys::{seal_text, wrap};

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

/// Writes `n` more finished meetings of `line`, an hour apart, into
/// `schema`, as the persister writes them: each with its own key wrapped
/// by the server's (`key`, the key of a server the tool started) and its
/// names and chat sealed with it, so the export decrypts every one; in
/// clear, as summaries from before encryption at rest, without a key.
async fn seed(
    url: &str,
    schema: &str,
    line: uuid::Uuid,
    n: usize,
    offset: usize,
    key: Option<&SecretKey>,
) {
    let client = connect(url, schema).await;
    let now = chrono::Utc::now();
    let hours: Vec<usize> = (offset + 1..=offset + n).collect();
    for chunk in hours.chunks(1_000) {
        let mut sessions = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut seats = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut chat = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for &h in chunk {
            let id = uuid::Uuid::new_v4();
            let started = now - chrono::Duration::hours(h as i64);
            let ended = started + chrono::Duration::minutes(30);
            let summary = key.map(|_| SecretKey::generate());
            let text = |t: &str| match &summary {
                Some(k) => seal_text(k, t),
                None => t.to_owned(),
            };
            sessions.0.push(id);
            sessions.1.push(started);
            sessions.2.push(ended);
            sessions.3.push(
                key.zip(summary.as_ref())
                    .map(|(server, k)| wrap(server, id, k)),
            );
            for k in 1..=3 {
                seats.0.push(id);
                seats.1.push(text(&format!("Seat {k}")));
                seats.2.push(started);
                seats.3.push(ended);
            }
            for _ in 0..2 {
                chat.0.push(id);
                chat.1.push(text("Seat 1"));
                chat.2.push(text("a message the load tool wrote"));
                chat.3.push(started);
            }
        }
        client
            .execute(
                "INSERT INTO conference_sessions (id, conference_id, started_at, ended_at, node_id, data_key) \
                 SELECT u.id, $1, u.s, u.e, gen_random_uuid(), u.k \
                 FROM unnest($2::uuid[], $3::timestamptz[], $4::timestamptz[], $5::bytea[]) AS u(id, s, e, k)",
                &[&line, &sessions.0, &sessions.1, &sessions.2, &sessions.3],
            )
            .await
            .unwrap();
        client
            .execute(
                "INSERT INTO attendance (participant_id, session_id, name, endpoint, role, joined_at, left_at, left_reason) \
                 SELECT gen_random_uuid(), u.id, u.n, 'web', 'participant', u.s, u.e, 'left' \
                 FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS u(id, n, s, e)",
                &[&seats.0, &seats.1, &seats.2, &seats.3],
            )
            .await
            .unwrap();
        client
            .execute(
                "INSERT INTO chat_messages (id, conference_id, session_id, sender, sender_name, text, posted_at) \
                 SELECT gen_random_uuid(), $1, u.id, gen_random_uuid(), u.n, u.t, u.at \
                 FROM unnest($2::uuid[], $3::text[], $4::text[], $5::timestamptz[]) AS u(id, n, t, at)",
                &[&line, &chat.0, &chat.1, &chat.2, &chat.3],
            )
            .await
            .unwrap();
    }
    client
        .execute(
            "INSERT INTO audit_log (id, conference_id, session_id, actor, action, at, chain_id) \
             SELECT gen_random_uuid(), $1, s.id, gen_random_uuid(), 'lock', s.started_at, \
                    (SELECT a.organisation_id FROM conferences c JOIN accounts a ON a.id = c.account_id WHERE c.id = $1) \
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
    let key = server.encryption_key();
    seed(url, schema, line, small, 0, key.as_ref()).await;
    let first = download(server, &token).await;
    progress.inc(1);
    seed(
        url,
        schema,
        line,
        summaries.saturating_sub(small),
        small,
        key.as_ref(),
    )
    .await;
    let second = download(server, &token).await;
    progress.finish();
    let expired = retention(server, url, schema, line, &token, summaries.max(small)).await;
    json!({
        "sealed": key.is_some(),
        "summaries_small": small,
        "small": first,
        "summaries": summaries.max(small),
        "large": second,
        "retention": expired,
    })
}
