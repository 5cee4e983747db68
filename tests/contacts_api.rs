//! The address book over the REST API, on both stores: a caller named by a
//! moderator appears in the owner's contacts with the full number, is
//! renamed (the next call shows the new name) and deleted by the owner
//! only; another account's contact answers exactly as a missing one.

mod common;

use common::{owned_line_with_security, scan, Backend, TestServer, Ws};
use serde_json::{json, Value};

on_both_stores!(actix: named_callers_are_listed_renamed_and_deleted_by_their_owner);

const SECRET: &str = "a-long-gateway-secret-for-tests";
const NUMBER: &str = "+441234567123";

/// The next message for `call` (other calls' messages are kept aside).
async fn next_for(gw: &mut Ws, call: &str) -> Value {
    loop {
        let m = gw.next().await.expect("the gateway stays connected");
        if m["call"] == call {
            return m;
        }
    }
}

/// Dials in as a participant through the whole IVR, up to `joined`.
async fn dial_in(gw: &mut Ws, call: &str, code: &str) {
    gw.send(json!({"type": "call", "call": call, "from": NUMBER}))
        .await;
    gw.send(json!({"type": "dtmf", "call": call, "digits": format!("{code}#2468##")}))
        .await;
    loop {
        let m = next_for(gw, call).await;
        assert_eq!(m["type"], "prompt", "{m}");
        if m["prompt"] == "joined" {
            return;
        }
    }
}

async fn named_callers_are_listed_renamed_and_deleted_by_their_owner(b: Backend) {
    let s = TestServer::start_with(
        b,
        |c| {
            c.gateway_secret = Some(conclave::secrets::GatewaySecret::new(SECRET.into()).unwrap());
        },
        std::sync::Arc::new(conclave::clock::SystemClock),
    )
    .await;
    let (token, code, pin) = owned_line_with_security(&s).await;
    let (other, _) = s.sign_up().await;
    let t = Some(token.as_str());
    let (status, empty) = s.call("GET", "/api/v1/account/contacts", None, t).await;
    assert_eq!((status, empty), (200, json!([])));

    // A moderator names a caller: the owner's address book has it.
    let mut chair = Ws::connect(&s).await;
    chair.join(&code, Some("2468"), Some(&pin), "Chair").await;
    let mut gw = Ws::gateway(&s, SECRET).await.unwrap();
    dial_in(&mut gw, "c1", &code).await;
    let caller = chair.until("participant_joined").await["participant"]["id"].clone();
    let named = chair
        .ask(json!({"type": "name_caller", "participant": caller, "name": "Grace"}))
        .await;
    assert_eq!(named["durable"], true, "{named}");
    gw.send(json!({"type": "hangup", "call": "c1"})).await;
    chair.until("participant_left").await;

    let (status, list) = s.call("GET", "/api/v1/account/contacts", None, t).await;
    assert_eq!(status, 200);
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(
        (list[0]["name"].as_str(), list[0]["number"].as_str()),
        (Some("Grace"), Some(NUMBER)),
        "the owner sees the full number"
    );
    assert!(list[0]["updated_at"].is_string());
    assert!(
        !scan::database_text(&s).await.contains("Grace"),
        "the name is sealed by the server's key"
    );
    let id = list[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 64);
    assert!(!id.contains("1234567"), "the id is not the number");
    let path = format!("/api/v1/account/contacts/{id}");

    // Another account sees nothing, and cannot rename or delete it: 404,
    // exactly as for an id that does not exist.
    let o = Some(other.as_str());
    let (_, theirs) = s.call("GET", "/api/v1/account/contacts", None, o).await;
    assert_eq!(theirs, json!([]));
    let missing = format!("/api/v1/account/contacts/{}", "0".repeat(64));
    let mut answers = Vec::new();
    for (p, who) in [(&path, o), (&missing, t)] {
        let (rs, rb) = s
            .call("PUT", p, Some(json!({"name": "Mallory"})), who)
            .await;
        let (ds, db) = s.call("DELETE", p, None, who).await;
        answers.push(((rs, rb), (ds, db)));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!((answers[0].0).0, 404);
    assert_eq!((answers[0].0).1["code"], "not_found");
    for bad in ["nope", "1234567", &"A".repeat(64)] {
        let (st, _) = s
            .call(
                "DELETE",
                &format!("/api/v1/account/contacts/{bad}"),
                None,
                t,
            )
            .await;
        assert_eq!(st, 404, "{bad}");
    }
    let (st, _) = s.call("GET", "/api/v1/account/contacts", None, None).await;
    assert_eq!(st, 401);

    // Renames follow a participant's name rules; bad ones change nothing.
    for (bad, why) in [
        (json!({"name": "  \u{200B} "}), "must not be empty"),
        (json!({"name": "a".repeat(101)}), "at most 100 characters"),
        (
            json!({"name": "Eve\u{7}"}),
            "must not contain control characters",
        ),
    ] {
        let (st, body) = s.call("PUT", &path, Some(bad), t).await;
        assert_eq!((st, body["field"].as_str()), (422, Some("name")), "{body}");
        assert!(body["detail"].as_str().unwrap().contains(why), "{body}");
    }
    let (st, body) = s
        .call("PUT", &path, Some(json!({"name": "x", "number": "+1"})), t)
        .await;
    assert_eq!((st, body["code"].as_str()), (400, Some("bad_request")));
    let (st, renamed) = s
        .call(
            "PUT",
            &path,
            Some(json!({"name": " Grace\u{202E} Hopper "})),
            t,
        )
        .await;
    assert_eq!(st, 200, "{renamed}");
    assert_eq!(
        (
            renamed["id"].as_str(),
            renamed["name"].as_str(),
            renamed["number"].as_str()
        ),
        (Some(id.as_str()), Some("Grace Hopper"), Some(NUMBER))
    );
    assert!(!scan::database_text(&s).await.contains("Hopper"));
    // The next call from the number shows the new name.
    dial_in(&mut gw, "c2", &code).await;
    let again = chair.until("participant_joined").await;
    assert_eq!(again["participant"]["name"], "Grace Hopper", "{again}");
    gw.send(json!({"type": "hangup", "call": "c2"})).await;
    chair.until("participant_left").await;

    // Deleted: gone from the list, and the number shows masked again.
    let (st, body) = s.call("DELETE", &path, None, t).await;
    assert_eq!((st, body), (204, Value::Null));
    let (_, list) = s.call("GET", "/api/v1/account/contacts", None, t).await;
    assert_eq!(list, json!([]));
    let (st, _) = s.call("DELETE", &path, None, t).await;
    assert_eq!(st, 404);
    dial_in(&mut gw, "c3", &code).await;
    let masked = chair.until("participant_joined").await;
    assert_eq!(masked["participant"]["name"], "+44•••••••123", "{masked}");
}
