//! Sessions a stopped server left open, on both stores (the
//! `store_conformance.rs` pattern): closed at their last recorded event
//! with `server_stopped`, for the restarted node itself and for nodes past
//! their lease, never for a live node.

mod common;

use common::Backend;
use conclave::store::{self, NewAccount, Page, Record, SharedStore};
use conclave_actors::{AccountId, ConferenceId};
use uuid::Uuid;

on_both_stores!(tokio: abandoned_sessions_close_at_their_last_event);

async fn open(backend: Backend) -> (SharedStore, tempfile::TempDir) {
    let (config, dir) = common::config(backend);
    (store::open(&config).await.expect("the store opens"), dir)
}

fn started(session: Uuid, conference: ConferenceId, node: Uuid, at: i64) -> Record {
    Record::SessionStarted {
        session,
        conference: conference.0,
        node,
        data_key: None,
        at,
    }
}

fn joined(participant: Uuid, session: Uuid, at: i64) -> Record {
    Record::Joined {
        participant,
        session,
        name: "Ada".into(),
        endpoint: "web",
        phone_sealed: None,
        role: "participant",
        at,
    }
}

async fn abandoned_sessions_close_at_their_last_event(b: Backend) {
    let (s, _dir) = open(b).await;
    let (account, line) = s
        .create_account(NewAccount {
            id: AccountId::new(),
            email: format!("{}@example.org", Uuid::new_v4().simple()),
            display_name: "Ada".into(),
            password_hash: "$argon2id$pw".into(),
            moderator_pin_hash: "$argon2id$pin".into(),
            line_id: ConferenceId::new(),
            line_access_code: conclave::crypto::random_digits(12),
            now: chrono::DateTime::from_timestamp(1_900_000_000, 0).unwrap(),
        })
        .await
        .unwrap();
    let c = line.id;
    // This node (restarted), a live node, a node past its lease, and one
    // the store never heard from.
    let (own, live, stale, unknown) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    let [s_own, s_done, s_live, s_stale, s_unknown] = [(); 5].map(|_| Uuid::new_v4());
    let [stayed, left, other, caller] = [(); 4].map(|_| Uuid::new_v4());
    let records = vec![
        started(s_own, c, own, 1_000),
        joined(stayed, s_own, 1_001),
        joined(left, s_own, 1_002),
        Record::Left {
            participant: left,
            reason: "left",
            at: 1_003,
        },
        Record::ChatPosted {
            id: Uuid::new_v4(),
            conference: c.0,
            session: s_own,
            sender: stayed,
            sender_name: "Ada".into(),
            text: "last words".into(),
            at: 1_005,
        },
        started(s_done, c, own, 900),
        Record::SessionEnded {
            session: s_done,
            at: 950,
        },
        started(s_live, c, live, 2_000),
        joined(other, s_live, 2_001),
        started(s_stale, c, stale, 3_000),
        joined(caller, s_stale, 3_001),
        Record::Audit {
            id: Uuid::new_v4(),
            conference: c.0,
            session: s_stale,
            actor: caller,
            action: "lock",
            target: None,
            detail: None,
            at: 3_004,
        },
        started(s_unknown, c, unknown, 4_000),
    ];
    s.write_records(&records).await.unwrap();
    // A webhook endpoint hears of the closing as of rooms that closed.
    let hook = store::WebhookEndpointRow {
        id: Uuid::new_v4(),
        account_id: account.id,
        url: "https://hooks.example.com/in".into(),
        events: vec!["participant.left".into(), "conference.ended".into()],
        created_at: 5_000,
    };
    s.insert_webhook_endpoint(&hook, b"sealed").await.unwrap();
    let now = 10_000_000;
    s.node_alive(own, now).await.unwrap();
    s.node_alive(live, now).await.unwrap();
    s.node_alive(stale, 1_000).await.unwrap();

    let mut closed = s
        .close_abandoned_sessions(Some(own), now - 600_000)
        .await
        .unwrap();
    closed.sort();
    let mut expected = vec![s_own, s_stale, s_unknown];
    expected.sort();
    assert_eq!(closed, expected);

    let ended: std::collections::HashMap<_, _> = s
        .conference_sessions(c, Page::ALL)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.ended_at))
        .collect();
    assert_eq!(ended[&s_own], Some(1_005), "at its last event (the chat)");
    assert_eq!(ended[&s_done], Some(950), "an ended session is left alone");
    assert_eq!(ended[&s_live], None, "a live node's session stays open");
    assert_eq!(ended[&s_stale], Some(3_004));
    assert_eq!(ended[&s_unknown], Some(4_000), "nothing but its start");
    let seats: std::collections::HashMap<_, _> = s
        .attendance(c, Page::ALL)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.participant, (r.left_at, r.left_reason)))
        .collect();
    assert_eq!(seats[&stayed], (Some(1_005), Some("server_stopped".into())));
    assert_eq!(seats[&left], (Some(1_003), Some("left".into())));
    assert_eq!(seats[&other], (None, None));
    assert_eq!(seats[&caller], (Some(3_004), Some("server_stopped".into())));
    let mut told: Vec<_> = s
        .webhook_deliveries(account.id, hook.id, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.kind, d.created_at))
        .collect();
    told.sort();
    assert_eq!(
        told,
        [
            ("conference.ended".to_owned(), 1_005),
            ("conference.ended".to_owned(), 3_004),
            ("conference.ended".to_owned(), 4_000),
            ("participant.left".to_owned(), 1_005),
            ("participant.left".to_owned(), 3_004),
        ]
    );

    // Again, as a live node's periodic sweep: nothing more to close; the
    // live node's session stays open while its heartbeat is fresh.
    assert_eq!(
        s.close_abandoned_sessions(None, now - 600_000)
            .await
            .unwrap(),
        Vec::<Uuid>::new()
    );
    // Past its lease, the live node's session is closed too.
    assert_eq!(
        s.close_abandoned_sessions(None, now + 1).await.unwrap(),
        vec![s_live]
    );
}
