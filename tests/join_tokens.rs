//! API keys and join tokens against a running server, on both stores: a
//! key is shown once and kept hashed; an application mints a token and a
//! WebSocket client joins with it; a token seats once; removed and blocked,
//! the same identity is refused with a fresh token; a revoked key's tokens
//! stop at once; expired, unsigned and tampered tokens are refused.

mod common;

use base64::Engine;
use common::{Backend, TestServer, Ws};
use serde_json::{json, Value};

on_both_stores!(actix:
    keys_are_shown_once_listed_without_the_key_and_revoked,
    an_application_seats_its_users_and_a_block_bars_their_identity,
    revoked_expired_unsigned_and_tampered_tokens_are_refused,
);

/// An account with its line's conference id; answers (token, conference).
async fn account(s: &TestServer) -> (String, String) {
    let (token, _) = s.sign_up().await;
    let (_, line) = s
        .call("GET", "/api/v1/account/line", None, Some(&token))
        .await;
    (
        token,
        line["id"].as_str().expect("the line's id").to_owned(),
    )
}

async fn new_key(s: &TestServer, token: &str) -> Value {
    let (status, key) = s
        .call(
            "POST",
            "/api/v1/account/api-keys",
            Some(json!({"name": "School portal"})),
            Some(token),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    key
}

/// Mints with the API key; answers (status, body).
async fn mint(s: &TestServer, key: &str, body: Value) -> (u16, Value) {
    s.call("POST", "/api/v1/join-tokens", Some(body), Some(key))
        .await
}

async fn token_for(s: &TestServer, key: &str, conference: &str, who: &str, role: &str) -> String {
    let (status, body) = mint(
        s,
        key,
        json!({"conference": conference, "name": who, "identity": format!("user-{who}"), "role": role}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

async fn join_with(ws: &mut Ws, token: &str) -> Value {
    ws.ask(json!({"type": "join", "join_token": token})).await
}

async fn keys_are_shown_once_listed_without_the_key_and_revoked(b: Backend) {
    let s = TestServer::start(b).await;
    let (token, conference) = account(&s).await;
    let key = new_key(&s, &token).await;
    let secret = key["key"].as_str().unwrap();
    assert!(secret.starts_with("ck_") && secret.len() > 40, "{key}");
    let (status, list) = s
        .call("GET", "/api/v1/account/api-keys", None, Some(&token))
        .await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "School portal");
    assert!(
        !list.to_string().contains(secret),
        "the key is never shown again"
    );
    // Bad requests change nothing.
    for (body, field) in [
        (
            json!({"conference": conference, "name": "A", "identity": "u", "ttl_secs": 0}),
            "ttl_secs",
        ),
        (
            json!({"conference": conference, "name": "A", "identity": "u", "ttl_secs": 3601}),
            "ttl_secs",
        ),
        (
            json!({"conference": conference, "name": "A", "identity": "u", "role": "admin"}),
            "role",
        ),
        (
            json!({"conference": conference, "name": "\u{200b}", "identity": "u"}),
            "name",
        ),
        (
            json!({"conference": conference, "name": "A", "identity": ""}),
            "identity",
        ),
    ] {
        let (status, problem) = mint(&s, secret, body).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (422, Some("invalid_field")),
            "{field}: {problem}"
        );
    }
    // Someone else's conference is not there for this key.
    let (_, other) = account(&s).await;
    let (status, _) = mint(
        &s,
        secret,
        json!({"conference": other, "name": "A", "identity": "u"}),
    )
    .await;
    assert_eq!(status, 404);
    // No key, a session token, or a made-up key: unauthorized.
    for bearer in ["", token.as_str(), "ck_not-a-key"] {
        let (status, _) = mint(
            &s,
            bearer,
            json!({"conference": conference, "name": "A", "identity": "u"}),
        )
        .await;
        assert_eq!(status, 401, "{bearer}");
    }
    // Revoked: mints nothing more.
    let id = key["id"].as_str().unwrap();
    let (status, _) = s
        .call(
            "DELETE",
            &format!("/api/v1/account/api-keys/{id}"),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = mint(
        &s,
        secret,
        json!({"conference": conference, "name": "A", "identity": "u"}),
    )
    .await;
    assert_eq!(status, 401);
    let (_, list) = s
        .call("GET", "/api/v1/account/api-keys", None, Some(&token))
        .await;
    assert!(list[0]["revoked_at"].is_i64(), "{list}");
    // Another account cannot revoke it (nor learn it exists).
    let (stranger, _) = account(&s).await;
    let (status, _) = s
        .call(
            "DELETE",
            &format!("/api/v1/account/api-keys/{id}"),
            None,
            Some(&stranger),
        )
        .await;
    assert_eq!(status, 404);
}

async fn an_application_seats_its_users_and_a_block_bars_their_identity(b: Backend) {
    let s = TestServer::start(b).await;
    let (token, conference) = account(&s).await;
    let key = new_key(&s, &token).await;
    let key = key["key"].as_str().unwrap();

    let teacher = token_for(&s, key, &conference, "Teacher", "moderator").await;
    let mut chair = Ws::connect(&s).await;
    let joined = join_with(&mut chair, &teacher).await;
    assert_eq!(
        (joined["type"].as_str(), joined["role"].as_str()),
        (Some("joined"), Some("moderator")),
        "{joined}"
    );
    let student = token_for(&s, key, &conference, "Student", "participant").await;
    let mut pupil = Ws::connect(&s).await;
    let joined = join_with(&mut pupil, &student).await;
    assert_eq!(joined["role"], "participant", "{joined}");
    let room = pupil.until("room").await;
    let names: Vec<_> = room["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Teacher", "Student"]);
    // A token seats once.
    let mut again = Ws::connect(&s).await;
    assert_eq!(
        join_with(&mut again, &student).await["code"],
        "used_join_token"
    );

    // Removed and blocked: a fresh token for the same identity is refused.
    let removed = chair
        .ask(json!({"type": "remove", "participant": joined["participant"], "block": true}))
        .await;
    assert_eq!(removed["type"], "ack");
    let fresh = token_for(&s, key, &conference, "Student", "participant").await;
    let mut back = Ws::connect(&s).await;
    assert_eq!(join_with(&mut back, &fresh).await["code"], "blocked");
    // Another identity is not barred; after a block it waits for a moderator.
    let other = token_for(&s, key, &conference, "Other", "participant").await;
    let mut newcomer = Ws::connect(&s).await;
    assert_eq!(join_with(&mut newcomer, &other).await["type"], "waiting");
}

async fn revoked_expired_unsigned_and_tampered_tokens_are_refused(b: Backend) {
    let s = TestServer::start(b).await;
    let (token, conference) = account(&s).await;
    let key = new_key(&s, &token).await;
    let (id, secret) = (key["id"].as_str().unwrap(), key["key"].as_str().unwrap());
    let mut ws = Ws::connect(&s).await;

    // Tampered: the role raised in the payload.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let minted = token_for(&s, secret, &conference, "Eve", "participant").await;
    let parts: Vec<&str> = minted.split('.').collect();
    let payload = String::from_utf8(b64.decode(parts[1]).unwrap()).unwrap();
    let raised = payload.replace("\"participant\"", "\"moderator\"");
    let tampered = format!("{}.{}.{}", parts[0], b64.encode(&raised), parts[2]);
    let refused = join_with(&mut ws, &tampered).await;
    assert_eq!(refused["code"], "invalid_join_token", "{refused}");
    // Unsigned.
    let unsigned = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(&raised)
    );
    assert_eq!(
        join_with(&mut ws, &unsigned).await["code"],
        "invalid_join_token"
    );
    assert_eq!(
        join_with(&mut ws, "garbage").await["code"],
        "invalid_join_token"
    );
    // Expired.
    let (status, short) = mint(
        &s,
        secret,
        json!({"conference": conference, "name": "Eve", "identity": "u-eve", "ttl_secs": 1}),
    )
    .await;
    assert_eq!(status, 201);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let expired = join_with(&mut ws, short["token"].as_str().unwrap()).await;
    assert_eq!(expired["code"], "expired_join_token", "{expired}");
    // Revoked: a token minted before is refused at once.
    let (status, _) = s
        .call(
            "DELETE",
            &format!("/api/v1/account/api-keys/{id}"),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(status, 204);
    let refused = join_with(&mut ws, &minted).await;
    assert_eq!(refused["code"], "invalid_join_token", "{refused}");
    // None of it seated anyone, and the connection is still there.
    assert_eq!(ws.ask(json!({"type": "ping"})).await["type"], "pong");
}
