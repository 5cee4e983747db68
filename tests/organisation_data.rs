//! An organisation's data rules against a running server, on both stores
//! (docs/organisations.md): its admins set one retention for every
//! member's summaries (a member reads it, and is refused setting it as if
//! it did not exist), and the retention job applies it to every member;
//! every member's moderator actions and deletions are links of the
//! organisation's one audit chain, which still verifies after a member
//! leaves and deletes a summary chained while it was a member, and after
//! a member deletes its account; an edited row, or one moved to another
//! chain, is named by the verifier in the chain it belongs to.

mod common;

use std::sync::Arc;

use common::people::{join, person, Person};
use common::{Backend, TestServer};
use conclave::audit::ChainReport;
use conclave::store::audit_chain::Broken;
use conclave::store::Record::*;
use serde_json::{json, Value};
use uuid::Uuid;

on_both_stores!(actix: retention_and_the_audit_chain_belong_to_the_organisation);

const DAY: i64 = 86_400_000;

/// Writes a finished meeting of `owner`'s line, `ago` days back, with a
/// seat and a moderator action, as the persister does; answers the
/// action's id.
async fn past_meeting(s: &TestServer, owner: &Person, ago: i64) -> Uuid {
    let line: Uuid = owner.line.parse().unwrap();
    let (session, person, action) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let at = chrono::Utc::now().timestamp_millis() - ago * DAY;
    let records = [
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
            name: "Chair".into(),
            endpoint: "web",
            phone_sealed: None,
            role: "moderator",
            at: at + 1,
        },
        Audit {
            id: action,
            conference: line,
            session,
            actor: person,
            action: "lock",
            target: None,
            detail: None,
            at: at + 2,
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
    ];
    let store = conclave::store::open(s.config()).await.unwrap();
    store.write_records(&records).await.unwrap();
    action
}

async fn verify(s: &TestServer) -> Vec<ChainReport> {
    let store = conclave::store::open(s.config()).await.unwrap();
    let key = conclave::store::chain_key(s.config()).unwrap();
    conclave::audit::verify(store.as_ref(), &key).await.unwrap()
}

/// The report of the chain `id` (an organisation, or an account's own).
async fn chain(s: &TestServer, id: &str) -> ChainReport {
    verify(s)
        .await
        .into_iter()
        .find(|r| r.chain.to_string() == id)
        .expect("a report for every organisation")
}

/// The kinds of the chain's links, in order.
async fn kinds(s: &TestServer, id: &str) -> Vec<String> {
    let store = conclave::store::open(s.config()).await.unwrap();
    let links = store
        .chain_links(id.parse().unwrap(), 0, 1_000)
        .await
        .unwrap();
    links.into_iter().map(|l| l.kind).collect()
}

async fn sessions(s: &TestServer, token: &str, line: &str) -> usize {
    let (status, body) = s
        .call(
            "GET",
            &format!("/api/v1/conferences/{line}/sessions"),
            None,
            Some(token),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().len()
}

async fn sql(s: &TestServer, statement: &str) {
    common::scan::execute(s, statement).await;
}

async fn retention_and_the_audit_chain_belong_to_the_organisation(b: Backend) {
    let s = TestServer::start_with(
        b,
        |c| c.retention.interval_secs = 1,
        Arc::new(conclave::clock::SystemClock),
    )
    .await;
    let (admin, member, leaver, outsider) = (
        person(&s).await,
        person(&s).await,
        person(&s).await,
        person(&s).await,
    );
    let (status, _) = s
        .call(
            "PUT",
            "/api/v1/organisation",
            Some(json!({"name": "Acme"})),
            Some(&admin.token),
        )
        .await;
    assert_eq!(status, 204);
    join(&s, &admin, &member).await;
    join(&s, &admin, &leaver).await;
    let acme = admin.id.clone();

    // Meetings chained while everyone is in Acme: the leaver's recent one
    // stays when it leaves; the outsider's own chain is its own.
    let member_old = past_meeting(&s, &member, 40).await;
    let admin_recent = past_meeting(&s, &admin, 5).await;
    let leaver_recent = past_meeting(&s, &leaver, 5).await;
    past_meeting(&s, &outsider, 40).await;
    assert_eq!(kinds(&s, &acme).await, ["moderator"; 3]);
    assert_eq!(kinds(&s, &outsider.id).await, ["moderator"]);
    assert_eq!(kinds(&s, &member.id).await, Vec::<String>::new());

    // Retention: every member reads the organisation's; only an admin sets
    // it, a member's attempt answered as for something that does not exist.
    let thirty = json!({"summary_days": 30, "chat_days": null});
    let none = json!({"summary_days": null, "chat_days": null});
    let (status, refused) = s
        .call(
            "PUT",
            "/api/v1/organisation/retention",
            Some(thirty.clone()),
            Some(&member.token),
        )
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (404, Some("not_found")),
        "{refused}"
    );
    let (status, refused) = s
        .call(
            "PUT",
            "/api/v1/account/retention",
            Some(thirty.clone()),
            Some(&member.token),
        )
        .await;
    assert_eq!(status, 404, "the old name of the resource: {refused}");
    let (_, read) = s
        .call(
            "GET",
            "/api/v1/organisation/retention",
            None,
            Some(&member.token),
        )
        .await;
    assert_eq!(read, none, "nothing changed");
    let (status, set) = s
        .call(
            "PUT",
            "/api/v1/organisation/retention",
            Some(thirty.clone()),
            Some(&admin.token),
        )
        .await;
    assert_eq!((status, &set), (200, &thirty));
    for who in [&member, &leaver] {
        for path in [
            "/api/v1/organisation/retention",
            "/api/v1/account/retention",
        ] {
            let (_, read) = s.call("GET", path, None, Some(&who.token)).await;
            assert_eq!(read, thirty, "{path}");
        }
    }
    let (_, read) = s
        .call(
            "GET",
            "/api/v1/organisation/retention",
            None,
            Some(&outsider.token),
        )
        .await;
    assert_eq!(read, none, "another organisation's is its own");

    // The job deletes the member's expired summary, by Acme's setting, and
    // not the outsider's, whose organisation keeps everything.
    common::eventually(15, "the member's expired summary goes", || async {
        (sessions(&s, &member.token, &member.line).await == 0).then_some(())
    })
    .await;
    assert_eq!(sessions(&s, &outsider.token, &outsider.line).await, 1);
    assert_eq!(sessions(&s, &admin.token, &admin.line).await, 1);
    let acme_kinds = kinds(&s, &acme).await;
    assert_eq!(
        acme_kinds[3..],
        ["history_deleted", "retention"],
        "{acme_kinds:?}"
    );
    let _ = member_old;

    // The leaver leaves, then deletes the summary chained while it was in
    // Acme: its own chain records the deletion, Acme's is told how many of
    // its links lost their row, and both verify.
    let (status, _) = s
        .call(
            "DELETE",
            &format!("/api/v1/organisation/members/{}", leaver.id),
            None,
            Some(&leaver.token),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = s
        .call(
            "DELETE",
            &format!("/api/v1/conferences/{}/history", leaver.line),
            None,
            Some(&leaver.token),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(kinds(&s, &leaver.id).await, ["history_deleted"]);
    assert_eq!(
        kinds(&s, &acme).await.last().map(String::as_str),
        Some("history_deleted")
    );
    for report in verify(&s).await {
        assert_eq!(report.broken, None, "{report}");
    }
    let _ = leaver_recent;

    // A member deletes its account: Acme's chain outlives it and is told.
    past_meeting(&s, &member, 2).await;
    let (status, body) = s
        .call(
            "DELETE",
            "/api/v1/account",
            Some(json!({"password": "correct horse battery"})),
            Some(&member.token),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let last: Value = {
        let store = conclave::store::open(s.config()).await.unwrap();
        let links = store
            .chain_links(acme.parse().unwrap(), 0, 1_000)
            .await
            .unwrap();
        let l = links.last().unwrap();
        assert_eq!(l.kind, "account_deleted");
        serde_json::from_str(l.detail.as_deref().unwrap()).unwrap()
    };
    assert_eq!(last, json!({"conferences": 1, "audit_entries": 1}));
    let intact = chain(&s, &acme).await;
    assert_eq!(intact.broken, None, "{intact}");

    // Tampering is named in the chain the row belongs to: an edited row,
    // then the same row moved to the outsider's chain.
    sql(
        &s,
        &format!("UPDATE audit_log SET action = 'unlock' WHERE id = '{admin_recent}'"),
    )
    .await;
    assert!(
        matches!(chain(&s, &acme).await.broken, Some(Broken::Row { id, .. }) if id == admin_recent),
        "the edited row is named"
    );
    sql(
        &s,
        &format!("UPDATE audit_log SET action = 'lock' WHERE id = '{admin_recent}'"),
    )
    .await;
    assert_eq!(chain(&s, &acme).await.broken, None);
    sql(
        &s,
        &format!(
            "UPDATE audit_log SET chain_id = '{}' WHERE id = '{admin_recent}'",
            outsider.id
        ),
    )
    .await;
    assert_eq!(
        chain(&s, &outsider.id).await.broken,
        Some(Broken::Unchained { id: admin_recent })
    );
    assert!(matches!(
        chain(&s, &acme).await.broken,
        Some(Broken::Missing { .. })
    ));
    sql(
        &s,
        &format!("UPDATE audit_log SET chain_id = NULL WHERE id = '{admin_recent}'"),
    )
    .await;
    assert_eq!(
        chain(&s, &acme).await.broken,
        None,
        "a row naming no chain is checked in its owner's"
    );
    sql(
        &s,
        &format!(
            "UPDATE audit_log SET chain_id = '{acme}', action = 'mute' WHERE id = '{admin_recent}'"
        ),
    )
    .await;
    let (code, out) = s.cli(&"a5".repeat(32), &["audit", "verify"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!("organisation {acme}")) && out.contains(&admin_recent.to_string()),
        "{out}"
    );

    // Turned off, the organisation keeps everything again.
    let (status, _) = s
        .call(
            "PUT",
            "/api/v1/organisation/retention",
            Some(none),
            Some(&admin.token),
        )
        .await;
    assert_eq!(status, 200);
}
