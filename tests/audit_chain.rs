//! The tamper-evident audit chain against a running server, on both
//! stores: moderator actions, the export and a summary's deletion become
//! links; `conclave audit verify` (the library call and the binary) passes
//! the untouched chain and names what was tampered with: an audit row
//! edited in the database, a row added outside the server, a link's detail
//! edited, a row removed that no deletion accounts for. The export carries
//! the chain, and a deleted summary leaves none of its audit ids behind.

mod common;

use std::collections::HashMap;
use std::io::Read;
use std::time::{Duration, Instant};

use common::{owned_line_with_security, Backend, TestServer, Ws};
use conclave::audit::ChainReport;
use conclave::store::audit_chain::Broken;
use serde_json::{json, Value};

on_both_stores!(actix:
    the_chain_verifies_until_the_database_is_edited,
);

async fn sql(s: &TestServer, statement: &str) {
    common::scan::execute(s, statement).await;
}

/// The account's chain, checked by the library call.
async fn report(s: &TestServer, account: &str) -> ChainReport {
    let store = conclave::store::open(s.config()).await.unwrap();
    let key = conclave::store::chain_key(s.config()).unwrap();
    conclave::audit::verify(store.as_ref(), &key)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.chain.to_string() == account)
        .expect("every account has a report")
}

/// `conclave audit verify` on the server's store: (exit code, output).
fn cli(s: &TestServer) -> (Option<i32>, String) {
    s.cli(&"a5".repeat(32), &["audit", "verify"])
}

async fn the_chain_verifies_until_the_database_is_edited(b: Backend) {
    let s = TestServer::start(b).await;
    let (token, code, pin) = owned_line_with_security(&s).await;
    let (_, me) = s.call("GET", "/api/v1/account", None, Some(&token)).await;
    let account = me["id"].as_str().unwrap().to_owned();
    // Another account's chain stays out of this one's.
    let (other_token, other_code, other_pin) = owned_line_with_security(&s).await;
    let mut other = Ws::connect(&s).await;
    other
        .join(&other_code, Some("2468"), Some(&other_pin), "Other")
        .await;
    assert_eq!(other.ask(json!({"type": "lock"})).await["type"], "ack");

    let mut chair = Ws::connect(&s).await;
    let joined = chair.join(&code, Some("2468"), Some(&pin), "Chair").await;
    let conference = joined["conference"].as_str().unwrap().to_owned();
    for action in ["lock", "unlock", "lock"] {
        assert_eq!(chair.ask(json!({"type": action})).await["type"], "ack");
    }
    assert_eq!(chair.ask(json!({"type": "leave"})).await["type"], "ack");
    let deadline = Instant::now() + Duration::from_secs(10);
    let audit = loop {
        let (_, rows) = s
            .call(
                "GET",
                &format!("/api/v1/conferences/{conference}/audit"),
                None,
                Some(&token),
            )
            .await;
        if rows.as_array().is_some_and(|r| r.len() == 3) {
            break rows;
        }
        assert!(
            Instant::now() < deadline,
            "the moderator actions are written: {rows}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let ids: Vec<String> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();

    // The export holds the chain, its export link included, each link
    // carrying the hash of the one before.
    let mut res = awc::Client::new()
        .get(s.url("/api/v1/account/export"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let archive = res.body().limit(16 << 20).await.unwrap();
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    for entry in tar::Archive::new(&archive[..]).entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        files.insert(path, bytes);
    }
    let chain: Vec<Value> =
        serde_json::from_slice(&files["conclave-export/audit_chain.json"]).unwrap();
    let kinds: Vec<&str> = chain.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["moderator", "moderator", "moderator", "account_exported"]
    );
    assert_eq!(chain[3]["detail"], json!({"conferences": 1}));
    assert_eq!(chain[0]["prev"], "0".repeat(64));
    for pair in chain.windows(2) {
        assert_eq!(pair[1]["prev"], pair[0]["hash"], "{pair:?}");
    }

    let intact = report(&s, &account).await;
    assert_eq!((intact.links, intact.broken.clone()), (4, None), "{intact}");
    let (code_ok, out) = cli(&s);
    assert_eq!(code_ok, Some(0), "{out}");
    assert!(
        out.contains(&format!("organisation {account}: 4 links, intact")),
        "{out}"
    );

    // An audit row edited in the database: the verifier names it.
    sql(
        &s,
        &format!(
            "UPDATE audit_log SET action = 'unlock' WHERE id = '{}'",
            ids[2]
        ),
    )
    .await;
    let edited = report(&s, &account).await;
    assert_eq!(
        edited.broken,
        Some(Broken::Row {
            id: ids[2].parse().unwrap(),
            seq: 3
        }),
        "{edited}"
    );
    let (code_broken, out) = cli(&s);
    assert_eq!(code_broken, Some(1), "{out}");
    assert!(
        out.contains(&format!("audit_log row {} was changed", ids[2])),
        "{out}"
    );
    assert!(out.contains("1 broken"), "{out}");
    sql(
        &s,
        &format!(
            "UPDATE audit_log SET action = 'lock' WHERE id = '{}'",
            ids[2]
        ),
    )
    .await;
    assert_eq!(report(&s, &account).await.broken, None);

    // A row added outside the server.
    let forged = uuid::Uuid::new_v4();
    sql(
        &s,
        &format!(
            "INSERT INTO audit_log (id, conference_id, session_id, actor, action, target, detail, at) \
             SELECT '{forged}', conference_id, session_id, actor, 'unlock', target, detail, at \
             FROM audit_log WHERE id = '{}'",
            ids[0]
        ),
    )
    .await;
    assert_eq!(
        report(&s, &account).await.broken,
        Some(Broken::Unchained { id: forged })
    );
    sql(&s, &format!("DELETE FROM audit_log WHERE id = '{forged}'")).await;

    // A link's detail edited.
    sql(
        &s,
        "UPDATE audit_chain SET detail = '{\"conferences\":0}' WHERE kind = 'account_exported'",
    )
    .await;
    assert_eq!(
        report(&s, &account).await.broken,
        Some(Broken::Detail { seq: 4 })
    );
    sql(
        &s,
        "UPDATE audit_chain SET detail = '{\"conferences\":1}' WHERE kind = 'account_exported'",
    )
    .await;
    assert_eq!(report(&s, &account).await.broken, None);

    // The summary deleted through the API: its audit rows go, a link says
    // how many, and the chain still verifies with nothing of them left.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = s
            .call(
                "DELETE",
                &format!("/api/v1/conferences/{conference}/history"),
                None,
                Some(&token),
            )
            .await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 409, "{body}");
        assert!(Instant::now() < deadline, "the room closes");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = report(&s, &account).await;
    assert_eq!((after.links, after.broken.clone()), (5, None), "{after}");
    let store = conclave::store::open(s.config()).await.unwrap();
    let links = store
        .chain_links(account.parse().unwrap(), 0, 100)
        .await
        .unwrap();
    assert_eq!(links[4].kind, "history_deleted");
    let detail: Value = serde_json::from_str(links[4].detail.as_deref().unwrap()).unwrap();
    assert_eq!(
        (
            detail["audit_entries"].as_i64(),
            detail["sessions"].as_i64()
        ),
        (Some(3), Some(1))
    );
    for link in &links {
        let text = format!("{link:?}");
        for id in &ids {
            assert!(
                !text.contains(id.as_str()),
                "no deleted audit id in the chain"
            );
        }
    }

    // A row of the other account removed outside the server: more are
    // missing than its deletions account for.
    let (_, other_me) = s
        .call("GET", "/api/v1/account", None, Some(&other_token))
        .await;
    let other_account = other_me["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    while report(&s, &other_account).await.links < 1 {
        assert!(
            Instant::now() < deadline,
            "the other account's action is chained"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(report(&s, &other_account).await.broken, None);
    sql(&s, "DELETE FROM audit_log WHERE action = 'lock'").await;
    assert_eq!(
        report(&s, &other_account).await.broken,
        Some(Broken::Missing {
            missing: 1,
            deleted: 0
        })
    );
    assert_eq!(
        report(&s, &account).await.broken,
        None,
        "one chain's fault is its own"
    );
}
