//! Deleting an account against a running server, on both stores: the
//! password is asked again (a wrong one changes nothing); the account's
//! live room is closed first; afterwards its token, its API key, its codes
//! and its files are gone, the e-mail can sign up again, the store holds
//! nothing of its conferences, and another account is untouched.

mod common;

use common::{owned_line_with_security, Backend, TestServer, Ws};
use conclave::store::{self, Page};
use conclave_actors::{AccountId, ConferenceId};
use serde_json::{json, Value};

on_both_stores!(actix: an_account_is_deleted_with_all_it_holds);

/// A meeting with chat and a lock, left open with `guest` still in it.
async fn meeting(s: &TestServer, code: &str, pin: &str) -> (Ws, Value) {
    let mut chair = Ws::connect(s).await;
    let joined = chair.join(code, Some("2468"), Some(pin), "Chair").await;
    assert_eq!(joined["type"], "joined", "{joined}");
    assert_eq!(
        chair.ask(json!({"type": "chat", "text": "minutes"})).await["type"],
        "ack"
    );
    assert_eq!(chair.ask(json!({"type": "lock"})).await["type"], "ack");
    assert_eq!(chair.ask(json!({"type": "unlock"})).await["type"], "ack");
    let mut guest = Ws::connect(s).await;
    assert_eq!(
        guest.join(code, Some("2468"), None, "Guest").await["type"],
        "joined"
    );
    assert_eq!(chair.ask(json!({"type": "leave"})).await["type"], "ack");
    (guest, joined)
}

async fn an_account_is_deleted_with_all_it_holds(b: Backend) {
    let s = TestServer::start(b).await;
    let (token, code, pin) = owned_line_with_security(&s).await;
    let (_, me) = s.call("GET", "/api/v1/account", None, Some(&token)).await;
    let email = me["email"].as_str().unwrap().to_owned();
    let account = AccountId(me["id"].as_str().unwrap().parse().unwrap());
    let (mut guest, joined) = meeting(&s, &code, &pin).await;
    let conference = ConferenceId(joined["conference"].as_str().unwrap().parse().unwrap());
    let (status, key) = s
        .call(
            "POST",
            "/api/v1/account/api-keys",
            Some(json!({"name": "portal"})),
            Some(&token),
        )
        .await;
    assert_eq!(status, 201);
    let key = key["key"].as_str().unwrap().to_owned();
    let (status, _) = s
        .call(
            "POST",
            "/api/v1/account/webhooks",
            Some(json!({"url": "https://93.184.216.34/hook", "events": ["participant.left"]})),
            Some(&token),
        )
        .await;
    assert_eq!(status, 201);
    // Files of its conference, as uploads and recordings leave them.
    let documents = s
        .data_dir()
        .join("documents")
        .join(conference.0.simple().to_string());
    let recordings = s.data_dir().join("recordings").join(conference.to_string());
    for dir in [&documents, &recordings] {
        std::fs::create_dir_all(dir.join("inner")).unwrap();
        std::fs::write(dir.join("inner").join("bytes"), b"private").unwrap();
    }
    // Another account's meeting, which must stay.
    let (other_token, other_code, other_pin) = owned_line_with_security(&s).await;
    let (mut other_guest, other_joined) = meeting(&s, &other_code, &other_pin).await;
    assert_eq!(
        other_guest.ask(json!({"type": "leave"})).await["type"],
        "ack"
    );

    // A wrong password changes nothing.
    let (status, body) = s
        .call(
            "DELETE",
            "/api/v1/account",
            Some(json!({"password": "not the password"})),
            Some(&token),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_credentials")),
        "{body}"
    );
    assert_eq!(
        s.call("GET", "/api/v1/account", None, Some(&token)).await.0,
        200
    );
    let (status, _) = s
        .call(
            "DELETE",
            "/api/v1/account",
            Some(json!({"password": "correct horse battery", "also": 1})),
            Some(&token),
        )
        .await;
    assert_eq!(status, 400, "unknown fields are refused");
    assert_eq!(
        s.call("GET", "/api/v1/account", None, Some(&token)).await.0,
        200
    );

    let (status, body) = s
        .call(
            "DELETE",
            "/api/v1/account",
            Some(json!({"password": "correct horse battery"})),
            Some(&token),
        )
        .await;
    assert_eq!(status, 204, "{body}");

    // The guest still in its room was told the room closed.
    assert_eq!(guest.until("closed").await["reason"], "room_closed");
    // Its token, its key and its codes stop at once; its files are gone.
    assert_eq!(
        s.call("GET", "/api/v1/account", None, Some(&token)).await.0,
        401
    );
    let (status, _) = s
        .call(
            "POST",
            "/api/v1/join-tokens",
            Some(json!({"conference": conference.0, "name": "X", "identity": "x"})),
            Some(&key),
        )
        .await;
    assert_eq!(status, 401, "the API key is gone");
    let mut late = Ws::connect(&s).await;
    let refused = late.join(&code, Some("2468"), None, "Late").await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert!(
        !documents.exists() && !recordings.exists(),
        "the files are gone"
    );
    let (status, _) = s
        .call(
            "POST",
            "/api/v1/sessions",
            Some(json!({"email": email, "password": "correct horse battery"})),
            None,
        )
        .await;
    assert_eq!(status, 401, "no account to sign in to");

    // The store holds nothing of it.
    let st = store::open(s.config()).await.unwrap();
    assert!(matches!(
        st.account(account).await,
        Err(store::StoreError::NotFound)
    ));
    assert!(matches!(
        st.conference(conference).await,
        Err(store::StoreError::NotFound)
    ));
    assert!(st
        .conference_sessions(conference, Page::ALL)
        .await
        .unwrap()
        .is_empty());
    assert!(st
        .attendance(conference, Page::ALL)
        .await
        .unwrap()
        .is_empty());
    assert!(st
        .audit_log(conference, Page::ALL)
        .await
        .unwrap()
        .is_empty());
    assert!(st.chat_log(conference, Page::ALL).await.unwrap().is_empty());
    assert!(st.webhook_endpoints(account).await.unwrap().is_empty());
    assert!(st.api_keys(account).await.unwrap().is_empty());
    // Nor does any table or file: not its id, address, conference or
    // webhook, its own organisation and audit chain included.
    let rows = common::scan::database_text(&s).await;
    let files = common::scan::data_dir_text(&s);
    for gone in [
        account.0.to_string(),
        email.clone(),
        conference.0.to_string(),
        conference.0.simple().to_string(),
        "93.184.216.34".to_owned(),
    ] {
        assert!(!rows.contains(&gone), "no row holds {gone}");
        assert!(!files.contains(&gone), "no file holds {gone}");
    }
    assert!(!files.contains("private"), "no file's bytes remain");

    // The other account is untouched.
    let other = ConferenceId(
        other_joined["conference"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
    );
    assert_eq!(st.chat_log(other, Page::ALL).await.unwrap().len(), 1);
    assert_eq!(
        s.call("GET", "/api/v1/account", None, Some(&other_token))
            .await
            .0,
        200
    );

    // The e-mail is free again.
    let (status, body) = s
        .call(
            "POST",
            "/api/v1/accounts",
            Some(json!({"email": email, "password": "a new password here", "display_name": "Ada again"})),
            None,
        )
        .await;
    assert_eq!(status, 201, "{body}");
}
