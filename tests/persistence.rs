//! Room history written asynchronously, on both stores, read back through
//! the owner's history API: attendance with join and leave times, a resume
//! that keeps one interval, the audit log, chat with tombstones, blocks and
//! the lock surviving a restart, a graceful stop that ends every interval,
//! deleting a conference's summary with its documents' and recordings'
//! bytes, and (PostgreSQL) a database outage that loses and doubles nothing.

mod common;

use std::time::Duration;

use common::{eventually, files_under, Backend, TestServer, Ws};
use serde_json::{json, Value};

on_both_stores!(actix:
    attendance_audit_and_chat_are_written,
    a_resume_keeps_one_attendance_interval,
    lock_permissions_and_blocks_survive_a_restart,
    a_graceful_stop_ends_every_interval_and_the_session,
    deleting_the_summary_removes_history_documents_and_recordings,
);

/// An account; returns (token, line conference id, line code, PIN).
async fn account(s: &TestServer) -> (String, String, String, String) {
    let (token, body) = s.sign_up().await;
    (
        token,
        body["line"]["id"].as_str().unwrap().to_owned(),
        body["line"]["access_code"].as_str().unwrap().to_owned(),
        body["moderator_pin"].as_str().unwrap().to_owned(),
    )
}

async fn history(s: &TestServer, token: &str, conference: &str, what: &str) -> Value {
    let (status, body) = s
        .call(
            "GET",
            &format!("/api/v1/conferences/{conference}/{what}"),
            None,
            Some(token),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The sessions, once `done` holds for them.
async fn sessions_when(
    s: &TestServer,
    token: &str,
    conference: &str,
    what: &str,
    done: impl Fn(&Vec<Value>) -> bool,
) -> Vec<Value> {
    eventually(15, what, || async {
        let all = history(s, token, conference, "sessions").await;
        let all = all.as_array().unwrap().clone();
        done(&all).then_some(all)
    })
    .await
}

async fn attendance_audit_and_chat_are_written(b: Backend) {
    let s = TestServer::start(b).await;
    let (token, conference, code, pin) = account(&s).await;
    let mut chair = Ws::connect(&s).await;
    let chair_id = chair.join(&code, None, Some(&pin), "Chair").await["participant"].clone();
    let mut guest = Ws::connect(&s).await;
    let guest_id = guest.join(&code, None, None, "Guest").await["participant"].clone();
    let mut other = Ws::connect(&s).await;
    let other_id = other.join(&code, None, None, "Other").await["participant"].clone();

    assert_eq!(
        guest.ask(json!({"type": "chat", "text": "hello"})).await["type"],
        "ack"
    );
    assert_eq!(
        guest.ask(json!({"type": "chat", "text": "oops"})).await["type"],
        "ack"
    );
    let oops = chair.until("chat").await;
    let oops = if oops["message"]["text"] == "oops" {
        oops
    } else {
        chair.until("chat").await
    };
    let oops_id = oops["message"]["id"].clone();
    assert_eq!(
        chair
            .ask(json!({"type": "delete_chat", "message": oops_id}))
            .await["type"],
        "ack"
    );
    let locked = chair.ask(json!({"type": "lock"})).await;
    assert_eq!(
        (locked["type"].as_str(), locked["durable"].as_bool()),
        (Some("ack"), Some(true)),
        "{locked}"
    );
    assert_eq!(
        chair
            .ask(json!({"type": "remove", "participant": guest_id}))
            .await["type"],
        "ack"
    );
    assert_eq!(other.ask(json!({"type": "leave"})).await["type"], "ack");
    assert_eq!(chair.ask(json!({"type": "leave"})).await["type"], "ack");

    // The room emptied: its session ends, every interval is closed.
    let sessions = sessions_when(&s, &token, &conference, "the session ends", |all| {
        all.len() == 1 && all[0]["ended_at"].is_string()
    })
    .await;
    let attendance = sessions[0]["attendance"].as_array().unwrap();
    let row = |id: &Value| {
        attendance
            .iter()
            .find(|a| a["participant"] == *id)
            .unwrap_or_else(|| panic!("{id} attended: {attendance:?}"))
    };
    for (id, name, role, reason) in [
        (&chair_id, "Chair", "moderator", "left"),
        (&guest_id, "Guest", "participant", "removed"),
        (&other_id, "Other", "participant", "left"),
    ] {
        let a = row(id);
        assert_eq!(
            (
                a["name"].as_str(),
                a["endpoint"].as_str(),
                a["role"].as_str(),
                a["left_reason"].as_str()
            ),
            (Some(name), Some("web"), Some(role), Some(reason)),
            "{a}"
        );
        // As times: RFC 3339 text drops trailing zeros of the fraction, so
        // ".5Z" sorts after ".52Z" as text.
        let at = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
        let (joined, left) = (at(&a["joined_at"]), at(&a["left_at"]));
        assert!(joined <= left, "{a}");
        assert!(at(&sessions[0]["started_at"]) <= joined);
        assert!(left <= at(&sessions[0]["ended_at"]));
    }
    assert_eq!(attendance.len(), 3);

    let audit = history(&s, &token, &conference, "audit").await;
    let actions: Vec<_> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap().to_owned(),
                a["actor"].clone(),
                a["target"].clone(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            ("delete_chat".to_owned(), chair_id.clone(), oops_id.clone()),
            ("lock".to_owned(), chair_id.clone(), Value::Null),
            ("remove".to_owned(), chair_id.clone(), guest_id.clone()),
        ]
    );
    let chat = history(&s, &token, &conference, "chat").await;
    let chat: Vec<_> = chat
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["sender"].clone(),
                m["text"].clone(),
                m["deleted_at"].is_string(),
            )
        })
        .collect();
    assert_eq!(
        chat,
        vec![
            (guest_id.clone(), json!("hello"), false),
            (guest_id.clone(), Value::Null, true),
        ],
        "a deleted message is a tombstone, never its text"
    );

    // Someone else's token sees none of it.
    let (stranger, _) = s.sign_up().await;
    let (status, _) = s
        .call(
            "GET",
            &format!("/api/v1/conferences/{conference}/sessions"),
            None,
            Some(&stranger),
        )
        .await;
    assert_eq!(status, 404);
}

async fn a_resume_keeps_one_attendance_interval(b: Backend) {
    let s = TestServer::start(b).await;
    let (token, conference, code, pin) = account(&s).await;
    let mut chair = Ws::connect(&s).await;
    chair.join(&code, None, Some(&pin), "Chair").await;
    let mut guest = Ws::connect(&s).await;
    let joined = guest.join(&code, None, None, "Guest").await;
    let (me, resume) = (
        joined["participant"].clone(),
        joined["resume_token"].as_str().unwrap().to_owned(),
    );
    drop(guest);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut back = Ws::connect(&s).await;
    let resumed = back
        .ask(json!({"type": "join", "access_code": code, "name": "Guest", "resume_token": resume}))
        .await;
    assert_eq!(resumed["resumed"], true, "{resumed}");
    assert_eq!(back.ask(json!({"type": "leave"})).await["type"], "ack");
    let sessions = sessions_when(
        &s,
        &token,
        &conference,
        "the guest's interval closes",
        |all| {
            all.first().is_some_and(|s| {
                s["attendance"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a["participant"] == me && a["left_at"].is_string())
            })
        },
    )
    .await;
    let mine: Vec<_> = sessions[0]["attendance"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["participant"] == me)
        .collect();
    assert_eq!(mine.len(), 1, "one interval across the resume: {mine:?}");
    assert_eq!(mine[0]["left_reason"], "left");
}

async fn lock_permissions_and_blocks_survive_a_restart(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, _, code, pin) = account(&s).await;
    let mut chair = Ws::connect(&s).await;
    chair.join(&code, None, Some(&pin), "Chair").await;
    let mut guest = Ws::connect(&s).await;
    let joined = guest.join(&code, None, None, "Guest").await;
    let (guest_id, device) = (
        joined["participant"].clone(),
        joined["device_token"].as_str().unwrap().to_owned(),
    );
    let blocked = chair
        .ask(json!({"type": "remove", "participant": guest_id, "block": true}))
        .await;
    assert_eq!(
        blocked["durable"], true,
        "a block is acknowledged once committed: {blocked}"
    );
    let perm = chair
        .ask(json!({"type": "set_permission", "permission": "chat", "audience": "moderators"}))
        .await;
    assert_eq!(perm["durable"], true, "{perm}");
    let lock = chair.ask(json!({"type": "lock"})).await;
    assert_eq!(lock["durable"], true, "{lock}");

    let s = s.restart().await;
    // A fresh room, on a fresh server, from what was committed.
    let mut again = Ws::connect(&s).await;
    let refused = again
        .ask(json!({"type": "join", "access_code": code, "moderator_pin": pin, "name": "G", "device_token": device}))
        .await;
    assert_eq!(
        refused["code"], "blocked",
        "the block outlived the restart: {refused}"
    );
    let mut late = Ws::connect(&s).await;
    assert_eq!(late.join(&code, None, None, "Late").await["code"], "locked");
    let mut chair = Ws::connect(&s).await;
    chair.join(&code, None, Some(&pin), "Chair").await;
    let room = chair.until("room").await;
    assert_eq!(room["locked"], true, "{room}");
    assert_eq!(room["permissions"]["chat"], "moderators", "{room}");
    let blocks = chair.ask(json!({"type": "list_blocks"})).await;
    assert_eq!(blocks["blocks"].as_array().unwrap().len(), 1, "{blocks}");
    // Lifting it is durable too.
    let block_id = blocks["blocks"][0]["id"].clone();
    assert_eq!(
        chair
            .ask(json!({"type": "unblock", "block": block_id}))
            .await["durable"],
        true
    );
    assert_eq!(chair.ask(json!({"type": "unlock"})).await["durable"], true);
    let s = s.restart().await;
    let mut back = Ws::connect(&s).await;
    let readmitted = back
        .ask(json!({"type": "join", "access_code": code, "name": "G", "device_token": device}))
        .await;
    assert_eq!(readmitted["type"], "joined", "{readmitted}");
}

async fn a_graceful_stop_ends_every_interval_and_the_session(b: Backend) {
    let mut s = TestServer::start(b).await;
    let (token, conference, code, pin) = account(&s).await;
    let mut chair = Ws::connect(&s).await;
    chair.join(&code, None, Some(&pin), "Chair").await;
    let mut guest = Ws::connect(&s).await;
    guest.join(&code, None, None, "Guest").await;
    let mut sent = Vec::new();
    // Within the per-connection burst allowance.
    for i in 0..35 {
        let text = format!("message {i}");
        assert_eq!(
            guest.ask(json!({"type": "chat", "text": text})).await["type"],
            "ack"
        );
        sent.push(text);
    }
    // Stopped at once, with history still in flight.
    s.shut_down().await;
    assert_eq!(chair.until("closed").await["reason"], "room_closed");
    let s = s.restart().await;
    let sessions = history(&s, &token, &conference, "sessions").await;
    let session = &sessions[0];
    assert!(session["ended_at"].is_string(), "{session}");
    let attendance = session["attendance"].as_array().unwrap();
    assert_eq!(attendance.len(), 2);
    for a in attendance {
        assert_eq!(a["left_reason"], "room_closed", "{a}");
    }
    let chat = history(&s, &token, &conference, "chat").await;
    let texts: Vec<_> = chat
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, sent, "every message, once, in order");
}

async fn delete_summary(s: &TestServer, token: &str, conference: &str) -> (u16, Value) {
    s.call(
        "DELETE",
        &format!("/api/v1/conferences/{conference}/history"),
        None,
        Some(token),
    )
    .await
}

async fn deleting_the_summary_removes_history_documents_and_recordings(b: Backend) {
    let s = TestServer::start(b).await;
    let (token, conference, code, pin) = account(&s).await;
    let mut chair = Ws::connect(&s).await;
    let seat = chair.join(&code, None, Some(&pin), "Chair").await;
    let mut guest = Ws::connect(&s).await;
    guest.join(&code, None, None, "Guest").await;
    assert_eq!(
        guest.ask(json!({"type": "chat", "text": "minutes"})).await["type"],
        "ack"
    );
    assert_eq!(chair.ask(json!({"type": "lock"})).await["type"], "ack");
    let mut res = awc::Client::new()
        .post(s.url("/api/v1/room/documents"))
        .query(&[("name", "agenda.txt")])
        .unwrap()
        .insert_header(("content-type", "text/plain"))
        .insert_header((
            "authorization",
            format!("Bearer {}", seat["resume_token"].as_str().unwrap()),
        ))
        .send_body("the agenda")
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{:?}", res.body().await);
    let documents = s.data_dir().join("documents");
    assert_eq!(files_under(&documents).len(), 1);

    let (status, body) = delete_summary(&s, &token, &conference).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("conference_live")),
        "{body}"
    );
    let chat = eventually(10, "the chat is written", || async {
        let chat = history(&s, &token, &conference, "chat").await;
        (chat.as_array().unwrap().len() == 1).then_some(chat)
    })
    .await;
    assert_eq!(
        chat[0]["text"], "minutes",
        "a refused delete keeps everything"
    );
    assert_eq!(chair.ask(json!({"type": "unlock"})).await["type"], "ack");
    assert_eq!(guest.ask(json!({"type": "leave"})).await["type"], "ack");
    assert_eq!(chair.ask(json!({"type": "leave"})).await["type"], "ack");
    let sessions = sessions_when(&s, &token, &conference, "the session ends", |all| {
        all.len() == 1 && all[0]["ended_at"].is_string()
    })
    .await;
    let session = sessions[0]["id"].as_str().unwrap().to_owned();

    // A recording of that session, as the media plane leaves one, and a
    // file that is not a recording (never touched).
    let recordings = s.data_dir().join("recordings").join(&conference);
    let recording = recordings.join(format!("{session}-1795874316000"));
    std::fs::create_dir_all(&recording).unwrap();
    std::fs::write(recording.join("manifest.json"), r#"{"tracks": []}"#).unwrap();
    std::fs::write(recording.join("a-microphone.ogg"), b"OggS").unwrap();
    std::fs::write(recordings.join("README"), b"not a recording").unwrap();

    let (stranger, _) = s.sign_up().await;
    let (status, _) = delete_summary(&s, &stranger, &conference).await;
    assert_eq!(status, 404, "someone else's conference");
    assert_eq!(
        history(&s, &token, &conference, "sessions")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let deleted = eventually(10, "the room has stopped", || async {
        let (status, body) = delete_summary(&s, &token, &conference).await;
        (status == 200).then_some(body)
    })
    .await;
    assert_eq!(
        deleted,
        json!({"sessions": 1, "documents": 1, "recordings": 1})
    );
    for what in ["sessions", "audit", "chat"] {
        assert_eq!(
            history(&s, &token, &conference, what).await,
            json!([]),
            "{what}"
        );
    }
    assert_eq!(
        files_under(&documents),
        Vec::<std::path::PathBuf>::new(),
        "document bytes"
    );
    assert!(!recording.exists(), "recording bytes");
    assert!(recordings.join("README").exists());
    // Nothing of the deleted summary in any table or file.
    let rows = common::scan::database_text(&s).await;
    let files = common::scan::data_dir_text(&s);
    for gone in [session.as_str(), "agenda.txt", "minutes"] {
        assert!(!rows.contains(gone), "no row holds {gone}");
    }
    // The SQLite file and its log included: deleted rows do not linger.
    for gone in [
        session.as_str(),
        "the agenda",
        "OggS",
        "minutes",
        "agenda.txt",
    ] {
        assert!(!files.contains(gone), "no file holds {gone}");
    }
    assert!(rows.contains(&conference), "the conference itself stays");
    let (status, again) = delete_summary(&s, &token, &conference).await;
    assert_eq!(
        (status, again),
        (200, json!({"sessions": 0, "documents": 0, "recordings": 0}))
    );

    // The line and its codes stay: the next meeting is a new session.
    let mut next = Ws::connect(&s).await;
    next.join(&code, None, Some(&pin), "Chair").await;
    assert_eq!(next.ask(json!({"type": "leave"})).await["type"], "ack");
    sessions_when(&s, &token, &conference, "a new session", |all| {
        all.len() == 1
    })
    .await;
}

/// PostgreSQL goes away for 10 s (a proxy cuts every connection and refuses
/// new ones) while people join, chat and leave. Everything is written once
/// it is back: every event present, none doubled, in order.
#[actix_web::test]
async fn postgres_outage_of_ten_seconds_loses_and_doubles_nothing() {
    let url = common::postgres_url();
    let proxy = common::TcpProxy::start(common::postgres_addr(&url)).await;
    let through_proxy = proxy.url_for(&url);
    let s = TestServer::start_with(
        Backend::Postgres,
        |c| {
            c.database_url = Some(through_proxy);
            c.persistence.durable_ack_wait_secs = 1;
        },
        std::sync::Arc::new(conclave::clock::SystemClock),
    )
    .await;
    let (token, conference, code, pin) = account(&s).await;
    let mut chair = Ws::connect(&s).await;
    chair.join(&code, None, Some(&pin), "Chair").await;
    let mut early = Ws::connect(&s).await;
    early.join(&code, None, None, "Early").await;

    proxy.down();
    let outage = std::time::Instant::now();
    let mut guests = Vec::new();
    let mut sent = Vec::new();
    for i in 0..5 {
        let mut g = Ws::connect(&s).await;
        let joined = g.join(&code, None, None, &format!("Guest {i}")).await;
        assert_eq!(
            joined["type"], "joined",
            "joins go on through the outage: {joined}"
        );
        for j in 0..2 {
            let text = format!("guest {i} says {j}");
            assert_eq!(
                g.ask(json!({"type": "chat", "text": text})).await["type"],
                "ack"
            );
            sent.push(text);
        }
        guests.push(g);
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    assert_eq!(early.ask(json!({"type": "leave"})).await["type"], "ack");
    let lock = chair.ask(json!({"type": "lock"})).await;
    assert_eq!(
        (lock["type"].as_str(), lock["durable"].as_bool()),
        (Some("ack"), Some(false)),
        "in force, but not yet committed: {lock}"
    );
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(outage.elapsed())).await;
    proxy.up();

    for mut g in guests {
        assert_eq!(g.ask(json!({"type": "leave"})).await["type"], "ack");
    }
    assert_eq!(chair.ask(json!({"type": "leave"})).await["type"], "ack");
    let sessions = sessions_when(
        &s,
        &token,
        &conference,
        "the session ends after the outage",
        |all| all.len() == 1 && all[0]["ended_at"].is_string(),
    )
    .await;
    let attendance = sessions[0]["attendance"].as_array().unwrap();
    let mut names: Vec<_> = attendance
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["Chair", "Early", "Guest 0", "Guest 1", "Guest 2", "Guest 3", "Guest 4"],
        "every seat once"
    );
    assert!(
        attendance.iter().all(|a| a["left_reason"] == "left"),
        "{attendance:?}"
    );
    let chat = history(&s, &token, &conference, "chat").await;
    let texts: Vec<_> = chat
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, sent, "every message, once, in order");
    let audit = history(&s, &token, &conference, "audit").await;
    let actions: Vec<_> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["lock"]);
    // And the lock made during the outage is in force for the next session.
    let mut late = Ws::connect(&s).await;
    assert_eq!(late.join(&code, None, None, "Late").await["code"], "locked");
}
