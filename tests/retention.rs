//! The retention job against running servers, on both stores: an account
//! keeps summaries 30 days and chat 10; summaries that ended longer ago go
//! with their seats, chat, audit, documents and recordings (bytes
//! included), while later ones, and another account without retention,
//! stay whole. Every table and the data directory are scanned for what was
//! deleted. Runs every second: later runs, and on PostgreSQL a second
//! server sharing the database and running the job at the same time,
//! delete nothing more, and the audit chain's counts add up to exactly what
//! went. Settings: 422 for days out of range, and only the owner's.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::scan::{data_dir_text, database_text};
use common::{Backend, TestServer};
use conclave::clock::SystemClock;
use conclave::store::Record::*;
use serde_json::{json, Value};
use uuid::Uuid;

on_both_stores!(actix:
    retention_deletes_exactly_what_expired_and_nothing_more,
);

const DAY: i64 = 86_400_000;

/// One finished meeting of `line`, `ago` days back, with a seat, a chat
/// message, a moderator action and a document, all named by `tag`;
/// answers its session id.
fn meeting(
    line: Uuid,
    now: i64,
    ago: i64,
    tag: &str,
    records: &mut Vec<conclave::store::Record>,
) -> Uuid {
    let (session, person) = (Uuid::new_v4(), Uuid::new_v4());
    let at = now - ago * DAY;
    records.extend([
        SessionStarted {
            session,
            conference: line,
            node: Uuid::nil(),
            data_key: None,
            at,
        },
        Joined {
            participant: person,
            session,
            name: format!("{tag} guest"),
            endpoint: "web",
            phone_sealed: None,
            role: "moderator",
            at: at + 1,
        },
        ChatPosted {
            id: Uuid::new_v4(),
            conference: line,
            session,
            sender: person,
            sender_name: format!("{tag} guest"),
            text: format!("{tag} words"),
            at: at + 2,
        },
        Audit {
            id: Uuid::new_v4(),
            conference: line,
            session,
            actor: person,
            action: "lock",
            target: None,
            detail: None,
            at: at + 3,
        },
        DocumentAdded {
            id: Uuid::new_v4(),
            conference: line,
            session,
            name: format!("{tag} agenda.pdf"),
            content_type: "application/pdf".into(),
            size: 3,
            by: person,
            at: at + 4,
        },
        Left {
            participant: person,
            reason: "left",
            at: at + 3_600_000,
        },
        SessionEnded {
            session,
            at: at + 3_600_000,
        },
    ]);
    session
}

/// A recording folder of `session`, as the media plane leaves one.
fn recording(
    s: &TestServer,
    line: Uuid,
    session: Uuid,
    started: i64,
    tag: &str,
) -> std::path::PathBuf {
    let dir = s
        .data_dir()
        .join("recordings")
        .join(line.to_string())
        .join(format!("{session}-{started}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.ogg"), format!("{tag} voice")).unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        r#"{"tracks":[{"file":"a.ogg"}]}"#,
    )
    .unwrap();
    dir
}

async fn sessions(s: &TestServer, token: &str, line: Uuid) -> Vec<Value> {
    let (status, body) = s
        .call(
            "GET",
            &format!("/api/v1/conferences/{line}/sessions"),
            None,
            Some(token),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().clone()
}

/// The account's links of one kind, as (kind, detail).
async fn links(s: &TestServer, account: Uuid) -> Vec<(String, Value)> {
    let store = conclave::store::open(s.config()).await.unwrap();
    store
        .chain_links(account, 0, 1_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.kind != "moderator")
        .map(|l| {
            (
                l.kind,
                serde_json::from_str(l.detail.as_deref().unwrap_or("null")).unwrap(),
            )
        })
        .collect()
}

async fn retention_deletes_exactly_what_expired_and_nothing_more(b: Backend) {
    let s =
        TestServer::start_with(b, |c| c.retention.interval_secs = 1, Arc::new(SystemClock)).await;
    let (token, body) = s.sign_up().await;
    let line: Uuid = body["line"]["id"].as_str().unwrap().parse().unwrap();
    let account: Uuid = body["account"]["id"].as_str().unwrap().parse().unwrap();
    let (other_token, other_body) = s.sign_up().await;
    let other_line: Uuid = other_body["line"]["id"].as_str().unwrap().parse().unwrap();

    let now = chrono::Utc::now().timestamp_millis();
    let mut records = Vec::new();
    let expired = [
        meeting(line, now, 50, "Fifty", &mut records),
        meeting(line, now, 40, "Forty", &mut records),
    ];
    let twenty = meeting(line, now, 20, "Twenty", &mut records);
    let five = meeting(line, now, 5, "Five", &mut records);
    let others = meeting(other_line, now, 50, "Other", &mut records);
    let store = conclave::store::open(s.config()).await.unwrap();
    store.write_records(&records).await.unwrap();
    let gone_dirs = [
        recording(&s, line, expired[0], now - 50 * DAY, "Fifty"),
        recording(&s, line, expired[1], now - 40 * DAY, "Forty"),
    ];
    let kept_dir = recording(&s, line, twenty, now - 20 * DAY, "Twenty");
    let other_dir = recording(&s, other_line, others, now - 50 * DAY, "Other");

    // A second server on the same PostgreSQL schema, running the job too.
    let twin = match b {
        Backend::Postgres => {
            let schema = s.config().database_schema.clone();
            Some(
                TestServer::start_with(
                    b,
                    move |c| {
                        c.retention.interval_secs = 1;
                        c.database_schema = schema;
                    },
                    Arc::new(SystemClock),
                )
                .await,
            )
        }
        Backend::Sqlite => None,
    };

    // Settings: bad days change nothing; someone else cannot read them.
    for bad in [
        json!({"summary_days": 0}),
        json!({"chat_days": 3651}),
        json!({"summary_days": "30"}),
        json!({"summary_days": 1.5}),
    ] {
        let (status, problem) = s
            .call(
                "PUT",
                "/api/v1/account/retention",
                Some(bad.clone()),
                Some(&token),
            )
            .await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (422, Some("invalid_field")),
            "{bad}"
        );
    }
    let (status, _) = s.call("GET", "/api/v1/account/retention", None, None).await;
    assert_eq!(status, 401);
    let (_, theirs) = s
        .call("GET", "/api/v1/account/retention", None, Some(&other_token))
        .await;
    assert_eq!(theirs, json!({"summary_days": null, "chat_days": null}));
    assert_eq!(
        sessions(&s, &token, line).await.len(),
        4,
        "nothing deleted before a retention is set"
    );

    let set = json!({"summary_days": 30, "chat_days": 10});
    let (status, echoed) = s
        .call(
            "PUT",
            "/api/v1/account/retention",
            Some(set.clone()),
            Some(&token),
        )
        .await;
    assert_eq!((status, &echoed), (200, &set));
    let (_, read) = s
        .call("GET", "/api/v1/account/retention", None, Some(&token))
        .await;
    assert_eq!(read, set);

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = sessions(&s, &token, line).await;
        if left.len() == 2 && gone_dirs.iter().all(|d| !d.exists()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the expired summaries go: {} left",
            left.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A few more runs, on both servers.
    tokio::time::sleep(Duration::from_millis(2_500)).await;

    let left: Vec<String> = sessions(&s, &token, line)
        .await
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        left,
        [twenty.to_string(), five.to_string()],
        "exactly the expired summaries went"
    );
    let (_, chat) = s
        .call(
            "GET",
            &format!("/api/v1/conferences/{line}/chat"),
            None,
            Some(&token),
        )
        .await;
    let texts: Vec<&str> = chat
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["Five words"],
        "chat older than 10 days went, from kept summaries too"
    );
    assert_eq!(
        sessions(&s, &other_token, other_line).await.len(),
        1,
        "another account's summary stays"
    );
    assert!(
        kept_dir.exists() && other_dir.exists(),
        "recordings of kept summaries stay"
    );

    let rows = database_text(&s).await;
    let files = data_dir_text(&s);
    for gone in ["Fifty", "Forty"] {
        assert!(!rows.contains(gone), "no row holds {gone}:\n{rows}");
        assert!(!files.contains(gone), "no file holds {gone}");
    }
    for id in expired {
        assert!(!rows.contains(&id.to_string()), "no row names session {id}");
        assert!(
            !files.contains(&id.to_string()),
            "no file names session {id}"
        );
    }
    assert!(!rows.contains("Twenty words"), "chat past 10 days is gone");
    for kept in [
        "Twenty guest",
        "Twenty agenda.pdf",
        "Five words",
        "Other words",
        "Other guest",
    ] {
        assert!(rows.contains(kept), "{kept} stays");
    }

    // The chain: one history_deleted link for the two summaries, and
    // retention links whose counts add up to exactly what went, however
    // the two servers shared the work.
    let found = links(&s, account).await;
    let deleted: Vec<&Value> = found
        .iter()
        .filter(|(k, _)| k == "history_deleted")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(deleted.len(), 1, "{found:?}");
    assert_eq!(
        (
            deleted[0]["sessions"].as_i64(),
            deleted[0]["audit_entries"].as_i64()
        ),
        (Some(2), Some(2))
    );
    let runs: Vec<&Value> = found
        .iter()
        .filter(|(k, _)| k == "retention")
        .map(|(_, d)| d)
        .collect();
    let summed = |field: &str| runs.iter().map(|d| d[field].as_i64().unwrap()).sum::<i64>();
    // The expired summaries' own chat went with them (counted in their
    // history_deleted link); chat_days took the 20-day one.
    assert_eq!(
        (summed("summaries"), summed("chat_messages")),
        (2, 1),
        "{runs:?}"
    );
    assert!(links(&s, other_line_account(&s, &other_token).await)
        .await
        .is_empty());
    let key = conclave::store::chain_key(s.config()).unwrap();
    let report = conclave::audit::verify(store.as_ref(), &key).await.unwrap();
    assert!(report.iter().all(|r| r.broken.is_none()), "{report:?}");

    // Turned off, nothing more goes.
    let off = json!({"summary_days": null, "chat_days": null});
    let (status, _) = s
        .call("PUT", "/api/v1/account/retention", Some(off), Some(&token))
        .await;
    assert_eq!(status, 200);
    drop(twin);
}

async fn other_line_account(s: &TestServer, token: &str) -> Uuid {
    let (_, me) = s.call("GET", "/api/v1/account", None, Some(token)).await;
    me["id"].as_str().unwrap().parse().unwrap()
}
