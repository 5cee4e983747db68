//! One suite, two stores: every case runs against SQLite and PostgreSQL
//! through the public `Store` trait, opened the way the server opens them.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::Backend;
use conclave::store::{
    self, ConferenceKind, NewAccount, NewScheduled, Page, SecurityChoice, SecuritySource,
    SharedStore, StoreError,
};
use conclave_actors::{AccountId, ConferenceId};

async fn open(backend: Backend) -> (SharedStore, tempfile::TempDir) {
    let (config, dir) = common::config(backend);
    (
        store::open(&config)
            .await
            .expect("the store opens and migrates"),
        dir,
    )
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_900_000_000, 0).unwrap()
}

fn code() -> String {
    conclave::crypto::random_digits(12)
}

fn new_account(email: &str) -> NewAccount {
    NewAccount {
        id: AccountId::new(),
        email: email.to_owned(),
        display_name: "Ada".into(),
        password_hash: "$argon2id$pw".into(),
        moderator_pin_hash: "$argon2id$pin".into(),
        line_id: ConferenceId::new(),
        line_access_code: code(),
        now: t0(),
    }
}

fn scheduled(account: AccountId, security: SecurityChoice, start_in_h: i64) -> NewScheduled {
    NewScheduled {
        id: ConferenceId::new(),
        account_id: account,
        title: "Board".into(),
        starts_at: t0() + Duration::hours(start_in_h),
        ends_at: t0() + Duration::hours(start_in_h + 1),
        security,
        access_code: code(),
        now: t0(),
    }
}

on_both_stores!(tokio:
    accounts_come_with_a_line,
    emails_and_access_codes_are_unique,
    sessions_expire_and_revoke,
    reset_code_retires_the_old_one_for_good,
    default_security_follows_the_line_not_scheduled_ones,
    conference_security_can_change,
    conferences_are_listed_line_first,
    unknown_things_are_not_found,
    migrations_are_idempotent,
    history_records_written_twice_leave_the_same_rows,
    a_rejected_record_fails_its_whole_batch,
    deleting_history_takes_past_sessions_and_keeps_the_rest,
);

async fn accounts_come_with_a_line(b: Backend) {
    let (s, _d) = open(b).await;
    let new = new_account("ada@example.org");
    let (account, line) = s.create_account(new.clone()).await.unwrap();
    assert_eq!(account.id, new.id);
    assert_eq!(account.email, "ada@example.org");
    assert_eq!(account.created_at, t0());
    assert!(account.default_security.is_none());
    assert_eq!(line.id, new.line_id);
    assert_eq!(line.kind, ConferenceKind::Line);
    assert_eq!(line.access_code, new.line_access_code);
    assert_eq!(line.security_source, SecuritySource::None);
    assert_eq!(s.line(account.id).await.unwrap().id, line.id);
    assert_eq!(
        s.account_by_email("ada@example.org").await.unwrap().id,
        account.id
    );
    let m = s.find_access_code(&new.line_access_code).await.unwrap();
    assert_eq!(m.conference.id, line.id);
    assert_eq!(m.moderator_pin_hash, "$argon2id$pin");
    s.set_moderator_pin(account.id, "$argon2id$pin2")
        .await
        .unwrap();
    let m = s.find_access_code(&new.line_access_code).await.unwrap();
    assert_eq!(m.moderator_pin_hash, "$argon2id$pin2");
}

async fn emails_and_access_codes_are_unique(b: Backend) {
    let (s, _d) = open(b).await;
    let first = new_account("a@example.org");
    s.create_account(first.clone()).await.unwrap();
    let same_email = new_account("a@example.org");
    assert!(matches!(
        s.create_account(same_email).await,
        Err(StoreError::Conflict("email"))
    ));
    let mut same_code = new_account("b@example.org");
    same_code.line_access_code = first.line_access_code.clone();
    assert!(matches!(
        s.create_account(same_code.clone()).await,
        Err(StoreError::Conflict("access_code"))
    ));
    // The failed transaction left nothing behind.
    assert!(matches!(
        s.account_by_email("b@example.org").await,
        Err(StoreError::NotFound)
    ));
    let mut sched = scheduled(first.id, SecurityChoice::None, 1);
    sched.access_code = first.line_access_code.clone();
    assert!(matches!(
        s.create_scheduled(sched).await,
        Err(StoreError::Conflict("access_code"))
    ));
}

async fn sessions_expire_and_revoke(b: Backend) {
    let (s, _d) = open(b).await;
    let a = new_account("s@example.org");
    s.create_account(a.clone()).await.unwrap();
    let hash = [7u8; 32];
    s.insert_session(&hash, a.id, t0(), t0() + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(s.session_account(&hash, t0()).await.unwrap().id, a.id);
    assert!(matches!(
        s.session_account(&hash, t0() + Duration::hours(1)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.session_account(&[8u8; 32], t0()).await,
        Err(StoreError::NotFound)
    ));
    s.revoke_session(&hash, t0()).await.unwrap();
    assert!(matches!(
        s.session_account(&hash, t0()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.revoke_session(&hash, t0()).await,
        Err(StoreError::NotFound)
    ));
}

async fn reset_code_retires_the_old_one_for_good(b: Backend) {
    let (s, _d) = open(b).await;
    let a = new_account("r@example.org");
    let (_, line) = s.create_account(a.clone()).await.unwrap();
    let old = line.access_code.clone();
    let new = code();
    s.replace_access_code(line.id, &new, t0()).await.unwrap();
    assert!(matches!(
        s.find_access_code(&old).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        s.find_access_code(&new).await.unwrap().conference.id,
        line.id
    );
    assert_eq!(s.line(a.id).await.unwrap().access_code, new);
    // A retired code is never handed out again, to anyone.
    let other = new_account("o@example.org");
    let (_, other_line) = s.create_account(other).await.unwrap();
    assert!(matches!(
        s.replace_access_code(other_line.id, &old, t0()).await,
        Err(StoreError::Conflict("access_code"))
    ));
    assert_eq!(
        s.line(other_line.account_id).await.unwrap().access_code,
        other_line.access_code
    );
}

async fn default_security_follows_the_line_not_scheduled_ones(b: Backend) {
    let (s, _d) = open(b).await;
    let a = new_account("d@example.org");
    s.create_account(a.clone()).await.unwrap();
    let before = s
        .create_scheduled(scheduled(a.id, SecurityChoice::AccountDefault, 1))
        .await
        .unwrap();
    assert!(before.security.is_none());
    assert_eq!(before.security_source, SecuritySource::None);

    s.set_default_security(a.id, Some(vec![1; 32]))
        .await
        .unwrap();
    let line = s.line(a.id).await.unwrap();
    assert_eq!(line.security, Some(vec![1; 32]));
    assert_eq!(line.security_source, SecuritySource::AccountDefault);
    assert!(
        s.conference(before.id).await.unwrap().security.is_none(),
        "existing conference keeps none"
    );
    let after = s
        .create_scheduled(scheduled(a.id, SecurityChoice::AccountDefault, 2))
        .await
        .unwrap();
    assert_eq!(after.security, Some(vec![1; 32]));

    s.set_default_security(a.id, Some(vec![2; 32]))
        .await
        .unwrap();
    assert_eq!(
        s.conference(after.id).await.unwrap().security,
        Some(vec![1; 32]),
        "keeps the old default"
    );
    s.set_default_security(a.id, None).await.unwrap();
    assert!(s.line(a.id).await.unwrap().security.is_none());
    assert_eq!(
        s.conference(after.id).await.unwrap().security,
        Some(vec![1; 32]),
        "removal does not reach it either"
    );
    assert_eq!(s.account(a.id).await.unwrap().default_security, None);
}

async fn conference_security_can_change(b: Backend) {
    let (s, _d) = open(b).await;
    let a = new_account("c@example.org");
    let (_, line) = s.create_account(a.clone()).await.unwrap();
    let c = s
        .create_scheduled(scheduled(a.id, SecurityChoice::Own(vec![3; 32]), 1))
        .await
        .unwrap();
    assert_eq!(c.security_source, SecuritySource::Own);
    let c2 = s
        .set_conference_security(c.id, SecurityChoice::None)
        .await
        .unwrap();
    assert!(c2.security.is_none());
    s.set_default_security(a.id, Some(vec![4; 32]))
        .await
        .unwrap();
    let c3 = s
        .set_conference_security(c.id, SecurityChoice::AccountDefault)
        .await
        .unwrap();
    assert_eq!(c3.security, Some(vec![4; 32]));
    assert_eq!(c3.security_source, SecuritySource::AccountDefault);
    assert!(
        matches!(
            s.set_conference_security(line.id, SecurityChoice::None)
                .await,
            Err(StoreError::NotFound)
        ),
        "the line's security is the default's business"
    );
}

async fn conferences_are_listed_line_first(b: Backend) {
    let (s, _d) = open(b).await;
    let a = new_account("l@example.org");
    let (_, line) = s.create_account(a.clone()).await.unwrap();
    let late = s
        .create_scheduled(scheduled(a.id, SecurityChoice::None, 5))
        .await
        .unwrap();
    let early = s
        .create_scheduled(scheduled(a.id, SecurityChoice::None, 1))
        .await
        .unwrap();
    let other = new_account("x@example.org");
    s.create_account(other.clone()).await.unwrap();
    s.create_scheduled(scheduled(other.id, SecurityChoice::None, 1))
        .await
        .unwrap();
    let ids: Vec<_> = s
        .conferences(a.id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, vec![line.id, early.id, late.id]);
}

async fn unknown_things_are_not_found(b: Backend) {
    let (s, _d) = open(b).await;
    let nobody = AccountId::new();
    assert!(matches!(s.account(nobody).await, Err(StoreError::NotFound)));
    assert!(matches!(
        s.account_by_email("nobody@example.org").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(s.line(nobody).await, Err(StoreError::NotFound)));
    assert!(matches!(
        s.conference(ConferenceId::new()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.find_access_code("0000000000").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.set_moderator_pin(nobody, "x").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.set_default_security(nobody, None).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.replace_access_code(ConferenceId::new(), &code(), t0())
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.create_scheduled(scheduled(nobody, SecurityChoice::None, 1))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.insert_session(&[1; 32], nobody, t0(), t0()).await,
        Err(StoreError::NotFound)
    ));
    assert!(s.conferences(nobody).await.unwrap().is_empty());
}

async fn migrations_are_idempotent(b: Backend) {
    let (config, _dir) = common::config(b);
    match b {
        Backend::Sqlite => {
            let path = config.data_dir.join("db.sqlite3");
            std::fs::create_dir_all(&config.data_dir).unwrap();
            let s = store::sqlite::SqliteStore::open(&path).await.unwrap();
            assert_eq!(s.migrate().await.unwrap(), store::migrations::SQLITE.len());
            assert_eq!(s.migrate().await.unwrap(), 0);
        }
        Backend::Postgres => {
            let url = config.database_url.as_deref().unwrap();
            let schema = config.database_schema.as_deref();
            let s = store::postgres::PgStore::connect(url, schema)
                .await
                .unwrap();
            assert_eq!(
                s.migrate().await.unwrap(),
                store::migrations::POSTGRES.len()
            );
            // A second server starting on the same database applies nothing.
            let s2 = store::postgres::PgStore::connect(url, schema)
                .await
                .unwrap();
            assert_eq!(s2.migrate().await.unwrap(), 0);
        }
    }
}

/// A complete small session, as the persister would write it.
fn session_records(conference: ConferenceId) -> (uuid::Uuid, Vec<store::Record>) {
    use store::Record::*;
    let (session, p, m, b) = (
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
    );
    let c = conference.0;
    let records = vec![
        SessionStarted {
            session,
            conference: c,
            node: uuid::Uuid::nil(),
            data_key: None,
            at: 1_000,
        },
        Joined {
            participant: p,
            session,
            name: "Caller".into(),
            endpoint: "phone",
            phone_sealed: Some(vec![1, 2, 3]),
            role: "participant",
            at: 1_001,
        },
        ChatPosted {
            id: m,
            conference: c,
            session,
            sender: p,
            sender_name: "Caller".into(),
            text: "hi".into(),
            at: 1_002,
        },
        ChatDeleted { id: m, at: 1_003 },
        Audit {
            id: uuid::Uuid::new_v4(),
            conference: c,
            session,
            actor: p,
            action: "lock",
            target: None,
            detail: None,
            at: 1_004,
        },
        Locked {
            conference: c,
            locked: true,
            at: 1_004,
        },
        Permission {
            conference: c,
            permission: "share",
            audience: "moderators",
            at: 1_005,
        },
        BlockAdded {
            id: b,
            conference: c,
            name: "X".into(),
            identities: r#"[{"kind":"device","value":"d"}]"#.into(),
            by: p,
            at: 1_006,
        },
        RoleChanged {
            participant: p,
            role: "moderator",
        },
        Renamed {
            participant: p,
            name: "Grace".into(),
        },
        Left {
            participant: p,
            reason: "left",
            at: 1_007,
        },
        SessionEnded { session, at: 1_008 },
    ];
    (session, records)
}

async fn history_records_written_twice_leave_the_same_rows(b: Backend) {
    let (s, _dir) = open(b).await;
    let (account, line) = s
        .create_account(new_account("h@example.org"))
        .await
        .unwrap();
    let (session, mut records) = session_records(line.id);
    records.push(store::Record::Chained {
        id: uuid::Uuid::new_v4(),
        of: store::ChainOf::Account(account.id.0),
        kind: "account_exported",
        detail: r#"{"conferences":1}"#.into(),
        at: 1_009,
    });
    s.write_records(&records).await.unwrap();
    let snapshot = || async {
        (
            s.conference_sessions(line.id, Page::ALL).await.unwrap(),
            s.attendance(line.id, Page::ALL).await.unwrap(),
            s.audit_log(line.id, Page::ALL).await.unwrap(),
            s.chat_log(line.id, Page::ALL).await.unwrap(),
            s.room_state(line.id).await.unwrap(),
        )
    };
    let once = snapshot().await;
    let links = s.chain_links(account.id.0, 0, 10).await.unwrap();
    let kinds: Vec<_> = links.iter().map(|l| l.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["moderator", "account_exported"],
        "the action and the export are chained"
    );
    // A commit whose answer was lost: the persister writes it again.
    s.write_records(&records).await.unwrap();
    assert_eq!(snapshot().await, once);
    assert_eq!(
        s.chain_links(account.id.0, 0, 10).await.unwrap(),
        links,
        "a batch written twice chains nothing twice"
    );
    let (sessions, attendance, audit, chat, state) = once;
    assert_eq!(sessions.len(), 1);
    assert_eq!(
        (sessions[0].id, sessions[0].ended_at),
        (session, Some(1_008))
    );
    assert_eq!(attendance.len(), 1);
    let a = &attendance[0];
    assert_eq!(
        (
            a.name.as_str(),
            a.role.as_str(),
            a.endpoint.as_str(),
            a.phone_sealed.as_deref(),
            a.left_at,
            a.left_reason.as_deref()
        ),
        (
            "Grace",
            "moderator",
            "phone",
            Some(&[1u8, 2, 3][..]),
            Some(1_007),
            Some("left")
        )
    );
    assert_eq!(audit.len(), 1);
    assert_eq!(
        (chat.len(), chat[0].text.as_deref(), chat[0].deleted_at),
        (1, None, Some(1_003))
    );
    assert!(state.locked);
    assert_eq!(
        (state.chat.as_str(), state.share.as_str()),
        ("everyone", "moderators")
    );
    assert_eq!(state.blocks.len(), 1);
    // A lifted block is no longer in force.
    s.write_records(&[store::Record::BlockLifted {
        id: state.blocks[0].id,
        at: 2_000,
    }])
    .await
    .unwrap();
    assert!(s.room_state(line.id).await.unwrap().blocks.is_empty());
    // An untouched conference starts open.
    let (_, other) = s
        .create_account(new_account("h2@example.org"))
        .await
        .unwrap();
    assert_eq!(
        s.room_state(other.id).await.unwrap(),
        store::RoomStateRow::fresh()
    );
}

async fn deleting_history_takes_past_sessions_and_keeps_the_rest(b: Backend) {
    let (s, _dir) = open(b).await;
    let (_, line) = s
        .create_account(new_account("d@example.org"))
        .await
        .unwrap();
    let (_, other) = s
        .create_account(new_account("d2@example.org"))
        .await
        .unwrap();
    let document = |id, session| store::Record::DocumentAdded {
        id,
        conference: line.id.0,
        session,
        name: "a.pdf".into(),
        content_type: "application/pdf".into(),
        size: 3,
        by: uuid::Uuid::new_v4(),
        at: 1_002,
    };
    let (past, mut records) = session_records(line.id);
    let shared = uuid::Uuid::new_v4();
    records.insert(2, document(shared, past));
    let (later, later_doc) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    records.push(store::Record::SessionStarted {
        session: later,
        conference: line.id.0,
        node: uuid::Uuid::nil(),
        data_key: None,
        at: 5_000,
    });
    records.push(document(later_doc, later));
    let (elsewhere, theirs) = session_records(other.id);
    records.extend(theirs);
    s.write_records(&records).await.unwrap();

    let deleted = s.delete_history(line.id, 5_000, 5_000, &[]).await.unwrap();
    assert_eq!(
        deleted,
        store::DeletedHistory {
            sessions: vec![past],
            documents: vec![shared],
        }
    );
    let sessions = s.conference_sessions(line.id, Page::ALL).await.unwrap();
    assert_eq!(
        sessions.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![later]
    );
    assert!(s.attendance(line.id, Page::ALL).await.unwrap().is_empty());
    assert!(s.audit_log(line.id, Page::ALL).await.unwrap().is_empty());
    assert!(s.chat_log(line.id, Page::ALL).await.unwrap().is_empty());
    // The room state is the line's setting, not its history.
    let state = s.room_state(line.id).await.unwrap();
    assert!(state.locked);
    assert_eq!(state.blocks.len(), 1);
    // Another conference is untouched.
    let kept = s.conference_sessions(other.id, Page::ALL).await.unwrap();
    assert_eq!(
        kept.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![elsewhere]
    );
    assert_eq!(s.chat_log(other.id, Page::ALL).await.unwrap().len(), 1);
    assert_eq!(s.attendance(other.id, Page::ALL).await.unwrap().len(), 1);
    // The later session goes with a later cut-off, its document with it.
    assert_eq!(
        s.delete_history(line.id, 5_001, 5_001, &[]).await.unwrap(),
        store::DeletedHistory {
            sessions: vec![later],
            documents: vec![later_doc],
        }
    );
    assert_eq!(
        s.delete_history(line.id, 9_000, 9_000, &[]).await.unwrap(),
        store::DeletedHistory::default()
    );
}

async fn a_rejected_record_fails_its_whole_batch(b: Backend) {
    let (s, _dir) = open(b).await;
    let (_, line) = s
        .create_account(new_account("r@example.org"))
        .await
        .unwrap();
    let (_, mut records) = session_records(line.id);
    // Attendance for a session that does not exist: a foreign-key violation.
    records.push(store::Record::Joined {
        participant: uuid::Uuid::new_v4(),
        session: uuid::Uuid::new_v4(),
        name: "Ghost".into(),
        endpoint: "web",
        phone_sealed: None,
        role: "participant",
        at: 1,
    });
    let err = s.write_records(&records).await.unwrap_err();
    assert!(
        !matches!(err, StoreError::Unavailable(_)),
        "not worth retrying: {err:?}"
    );
    assert!(
        s.conference_sessions(line.id, Page::ALL)
            .await
            .unwrap()
            .is_empty(),
        "nothing of the batch"
    );
}
