//! A signed-in owner joins their own line or scheduled conference by its
//! id and their account token, typing no code (the account pages' "join"
//! button), on both stores; nobody else can use that door.

mod common;

use common::{owned_line_with_security, Backend, TestServer, Ws};
use serde_json::{json, Value};

on_both_stores!(actix: owners_join_their_conferences_by_id_without_codes);

async fn join_by_id(ws: &mut Ws, conference: &str, token: Option<&str>) -> Value {
    ws.ask(json!({"type": "join", "conference": conference, "account_token": token, "name": "Ada"}))
        .await
}

async fn owners_join_their_conferences_by_id_without_codes(b: Backend) {
    let s = TestServer::start(b).await;
    // The line needs the default security code; the scheduled conference
    // has its own.
    let (token, code, _pin) = owned_line_with_security(&s).await;
    let t = Some(token.as_str());
    let (_, line) = s.call("GET", "/api/v1/account/line", None, t).await;
    let line_id = line["id"].as_str().unwrap().to_owned();
    let (status, board) = s
        .call(
            "POST",
            "/api/v1/conferences",
            Some(json!({"title": "Board", "starts_at": "2031-12-01T09:00:00Z", "ends_at": "2031-12-01T10:00:00Z",
                        "security": {"mode": "own", "security_code": "1357"}})),
            t,
        )
        .await;
    assert_eq!(status, 201, "{board}");
    let board_id = board["id"].as_str().unwrap().to_owned();

    // The owner: no access code, no security code, no PIN; the chair.
    let mut owner = Ws::connect(&s).await;
    let joined = join_by_id(&mut owner, &line_id, t).await;
    assert_eq!(
        (
            joined["type"].as_str(),
            joined["role"].as_str(),
            joined["owner"].as_bool(),
            joined["conference"].as_str()
        ),
        (
            Some("joined"),
            Some("moderator"),
            Some(true),
            Some(line_id.as_str())
        ),
        "{joined}"
    );
    // Guests by code meet the owner there.
    let mut guest = Ws::connect(&s).await;
    let g = guest.join(&code, Some("2468"), None, "Guest").await;
    assert_eq!(g["conference"], line_id.as_str(), "{g}");
    assert_eq!(
        owner.until("participant_joined").await["participant"]["name"],
        "Guest"
    );
    let mut other_room = Ws::connect(&s).await;
    let joined = join_by_id(&mut other_room, &board_id, t).await;
    assert_eq!(
        (
            joined["type"].as_str(),
            joined["title"].as_str(),
            joined["owner"].as_bool()
        ),
        (Some("joined"), Some("Board"), Some(true)),
        "{joined}"
    );

    // Nobody else: another account, no account, an unknown id, a bad
    // token, a malformed id, or both doors at once. The connection stays.
    let (stranger, _) = s.sign_up().await;
    let mut ws = Ws::connect(&s).await;
    let refusals = [
        (
            json!({"conference": line_id, "account_token": stranger}),
            "invalid_credentials",
        ),
        (
            json!({"conference": uuid::Uuid::new_v4().to_string(), "account_token": token}),
            "invalid_credentials",
        ),
        (
            json!({"conference": line_id, "account_token": null}),
            "unauthorized",
        ),
        (json!({"conference": line_id}), "unauthorized"),
        (
            json!({"conference": line_id, "account_token": "not-a-live-token"}),
            "unauthorized",
        ),
        (
            json!({"conference": "nope", "account_token": token}),
            "bad_request",
        ),
        (
            json!({"conference": line_id, "access_code": code, "account_token": token}),
            "bad_request",
        ),
        (json!({"account_token": token}), "bad_request"),
    ];
    for (fields, expected) in refusals {
        let mut frame = json!({"type": "join", "name": "Mallory"});
        for (k, v) in fields.as_object().unwrap() {
            frame[k] = v.clone();
        }
        let answer = ws.ask(frame.clone()).await;
        assert_eq!(
            (answer["type"].as_str(), answer["code"].as_str()),
            (Some("error"), Some(expected)),
            "{frame} -> {answer}"
        );
    }
    // Still open, and the codes still work on it.
    let g = ws.join(&code, Some("2468"), None, "Late").await;
    assert_eq!(g["type"], "joined", "{g}");
}
