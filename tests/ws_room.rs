//! The room over a real WebSocket, on both stores: joining with each
//! credential combination, the lock and the moderator PIN, removal and
//! blocking, chat permission, and how bad frames are treated; the device
//! cookie and text that must not pass (on SQLite: no store is involved).

mod common;

use common::{line_with_security, Backend, TestServer, Ws};
use serde_json::json;

on_both_stores!(actix:
    join_with_each_credential_combination,
    lock_refuses_a_participant_but_admits_the_moderator_pin,
    remove_and_block_close_the_target_and_bar_its_device,
    chat_reaches_everyone_and_its_permission_is_enforced,
    violations_close_user_errors_do_not,
    a_dropped_connection_resumes_its_seat_but_removed_and_blocked_never_do,
    the_signed_in_owner_chairs_and_promotes_and_cannot_be_removed,
    a_block_bars_the_signed_in_account_on_any_device,

);

async fn join_with_each_credential_combination(b: Backend) {
    let s = TestServer::start(b).await;
    let (code, pin) = line_with_security(&s).await;
    let mut ws = Ws::connect(&s).await;
    // Refusals keep the connection: the client can try again.
    for (security, pin_given, expected) in [
        (None, None, "security_code_required"),
        (Some("1111"), None, "invalid_credentials"),
        (Some("2468"), Some("00000000"), "invalid_moderator_pin"),
    ] {
        let answer = ws.join(&code, security, pin_given, "Ada").await;
        assert_eq!(
            (answer["type"].as_str(), answer["code"].as_str()),
            (Some("error"), Some(expected)),
            "{answer}"
        );
    }
    let unknown = ws.join("1234567890", Some("2468"), None, "Ada").await;
    assert_eq!(
        unknown["code"], "invalid_credentials",
        "unknown code and wrong security code: one refusal"
    );
    let joined = ws.join(&code, Some("2468"), None, "Ada").await;
    assert_eq!(
        (joined["type"].as_str(), joined["role"].as_str()),
        (Some("joined"), Some("participant")),
        "{joined}"
    );
    let room = ws.until("room").await;
    assert_eq!(room["you"], joined["participant"]);
    assert_eq!(room["participants"].as_array().unwrap().len(), 1);
    assert_eq!(
        room.get("active_speaker"),
        Some(&serde_json::Value::Null),
        "nobody has spoken yet: {room}"
    );
    let again = ws
        .ask(json!({"type": "join", "access_code": code, "name": "Ada"}))
        .await;
    assert_eq!(again["code"], "already_joined");

    let mut chair = Ws::connect(&s).await;
    let joined = chair.join(&code, Some("2468"), Some(&pin), "Chair").await;
    assert_eq!(joined["role"], "moderator", "{joined}");
    let seen = ws.until("participant_joined").await;
    assert_eq!(seen["participant"]["name"], "Chair");
    assert_eq!(seen["participant"]["role"], "moderator");
}

async fn lock_refuses_a_participant_but_admits_the_moderator_pin(b: Backend) {
    let s = TestServer::start(b).await;
    let (code, pin) = line_with_security(&s).await;
    let mut chair = Ws::connect(&s).await;
    let chair_joined = chair.join(&code, Some("2468"), Some(&pin), "Chair").await;
    assert_eq!(chair_joined["role"], "moderator");
    let mut guest = Ws::connect(&s).await;
    assert_eq!(
        guest.join(&code, Some("2468"), None, "Guest").await["type"],
        "joined"
    );
    // A participant may not lock.
    assert_eq!(
        guest.ask(json!({"type": "lock"})).await["code"],
        "forbidden"
    );
    assert_eq!(chair.ask(json!({"type": "lock"})).await["type"], "ack");
    assert_eq!(
        guest.until("locked").await["by"],
        chair_joined["participant"]
    );

    let mut late = Ws::connect(&s).await;
    let refused = late.join(&code, Some("2468"), None, "Late").await;
    assert_eq!(refused["code"], "locked", "{refused}");
    // The moderator is told who knocked; a participant is not.
    let knock = chair.until("join_refused").await;
    assert_eq!(
        knock,
        json!({"type": "join_refused", "name": "Late", "phone": false, "reason": "locked"})
    );
    let admitted = late
        .join(&code, Some("2468"), Some(&pin), "Second chair")
        .await;
    assert_eq!(
        (admitted["type"].as_str(), admitted["role"].as_str()),
        (Some("joined"), Some("moderator"))
    );
    assert_eq!(chair.ask(json!({"type": "unlock"})).await["type"], "ack");
    loop {
        let m = guest.next().await.expect("the guest stays connected");
        assert_ne!(m["type"], "join_refused", "a participant is never told");
        if m["type"] == "unlocked" {
            break;
        }
    }
    let mut later = Ws::connect(&s).await;
    assert_eq!(
        later.join(&code, Some("2468"), None, "Later").await["type"],
        "joined"
    );
}

async fn remove_and_block_close_the_target_and_bar_its_device(b: Backend) {
    let s = TestServer::start(b).await;
    let (code, pin) = line_with_security(&s).await;
    let mut chair = Ws::connect(&s).await;
    chair.join(&code, Some("2468"), Some(&pin), "Chair").await;
    // A removed participant may come back.
    let mut guest = Ws::connect(&s).await;
    let joined = guest.join(&code, Some("2468"), None, "Guest").await;
    let guest_id = joined["participant"].clone();
    assert_eq!(
        chair
            .ask(json!({"type": "remove", "participant": guest_id}))
            .await["type"],
        "ack"
    );
    assert_eq!(guest.until("closed").await["reason"], "removed");
    assert!(guest.next().await.is_err(), "the server closes the socket");
    let left = chair.until("participant_left").await;
    assert_eq!(
        (left["participant"].clone(), left["reason"].as_str()),
        (guest_id, Some("removed"))
    );
    let mut back = Ws::connect(&s).await;
    let joined = back.join(&code, Some("2468"), None, "Guest").await;
    assert_eq!(joined["type"], "joined");
    let device = joined["device_token"].as_str().unwrap().to_owned();

    // Blocked: closed, and that device is refused from then on.
    let back_id = joined["participant"].clone();
    assert_eq!(
        chair
            .ask(json!({"type": "remove", "participant": back_id, "block": true}))
            .await["type"],
        "ack"
    );
    assert_eq!(back.until("closed").await["reason"], "blocked");
    let blocked = chair.until("blocked").await;
    assert_eq!(blocked["block"]["name"], "Guest");
    let mut again = Ws::connect(&s).await;
    let refused = again
        .ask(json!({"type": "join", "access_code": code, "security_code": "2468", "moderator_pin": pin, "name": "G", "device_token": device}))
        .await;
    assert_eq!(
        refused["code"], "blocked",
        "a block beats even the moderator PIN: {refused}"
    );
    let blocks = chair.ask(json!({"type": "list_blocks"})).await;
    let block_id = blocks["blocks"][0]["id"].clone();
    assert_eq!(
        chair
            .ask(json!({"type": "unblock", "block": block_id}))
            .await["type"],
        "ack"
    );
    let readmitted = again
        .ask(json!({"type": "join", "access_code": code, "security_code": "2468", "name": "G", "device_token": device}))
        .await;
    assert_eq!(readmitted["type"], "joined");
}

async fn chat_reaches_everyone_and_its_permission_is_enforced(b: Backend) {
    let s = TestServer::start(b).await;
    let (code, pin) = line_with_security(&s).await;
    let mut chair = Ws::connect(&s).await;
    chair.join(&code, Some("2468"), Some(&pin), "Chair").await;
    let mut guest = Ws::connect(&s).await;
    guest.join(&code, Some("2468"), None, "Guest").await;
    assert_eq!(
        guest.ask(json!({"type": "chat", "text": "hello"})).await["type"],
        "ack"
    );
    let got = chair.until("chat").await;
    assert_eq!(
        (
            got["message"]["text"].as_str(),
            got["message"]["from_name"].as_str()
        ),
        (Some("hello"), Some("Guest"))
    );
    let set = chair
        .ask(json!({"type": "set_permission", "permission": "chat", "audience": "moderators"}))
        .await;
    assert_eq!(set["type"], "ack");
    assert_eq!(
        guest.until("permission_changed").await["audience"],
        "moderators"
    );
    assert_eq!(
        guest.ask(json!({"type": "chat", "text": "may I?"})).await["code"],
        "not_permitted"
    );
    assert_eq!(
        chair
            .ask(json!({"type": "chat", "text": "moderators only"}))
            .await["type"],
        "ack"
    );
    assert_eq!(
        guest.until("chat").await["message"]["text"],
        "moderators only"
    );
    // A late joiner gets the history.
    let mut late = Ws::connect(&s).await;
    late.join(&code, Some("2468"), None, "Late").await;
    let room = late.until("room").await;
    let texts: Vec<_> = room["chat"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, vec![json!("hello"), json!("moderators only")]);
}

async fn violations_close_user_errors_do_not(b: Backend) {
    let s = TestServer::start(b).await;
    let mut ws = Ws::connect(&s).await;
    assert_eq!(ws.ask(json!({"type": "fly"})).await["code"], "unknown_type");
    assert_eq!(
        ws.ask(json!({"type": "chat", "text": "before joining"}))
            .await["code"],
        "join_first"
    );
    assert_eq!(
        ws.ask(json!({"type": "ping"})).await["type"],
        "pong",
        "the connection stays"
    );
    ws.send_text("{not json").await;
    let closed = ws.next().await.expect_err("a protocol violation closes");
    let reason = closed.expect("with a reason");
    assert_eq!(reason.code, awc::ws::CloseCode::Policy);
    assert_eq!(reason.description.as_deref(), Some("malformed_json"));

    // A foreign origin cannot open a socket at all.
    let url = s.url("/ws").replacen("http", "ws", 1);
    let refused = awc::Client::new()
        .ws(url)
        .origin("https://evil.example")
        .connect()
        .await;
    assert!(refused.is_err(), "a foreign origin is refused");
}

async fn a_dropped_connection_resumes_its_seat_but_removed_and_blocked_never_do(b: Backend) {
    let s = TestServer::start(b).await;
    let (code, pin) = line_with_security(&s).await;
    let mut chair = Ws::connect(&s).await;
    chair.join(&code, Some("2468"), Some(&pin), "Chair").await;
    let mut guest = Ws::connect(&s).await;
    let joined = guest.join(&code, Some("2468"), None, "Guest").await;
    let (me, token) = (
        joined["participant"].clone(),
        joined["resume_token"].as_str().unwrap().to_owned(),
    );
    chair.until("participant_joined").await;
    drop(guest); // the connection drops without a goodbye

    let mut back = Ws::connect(&s).await;
    let resumed = back
        .ask(json!({"type": "join", "access_code": code, "name": "Guest", "resume_token": token}))
        .await;
    assert_eq!(
        (
            resumed["type"].as_str(),
            &resumed["participant"],
            resumed["resumed"].as_bool()
        ),
        (Some("joined"), &me, Some(true)),
        "{resumed}"
    );
    let room = back.until("room").await;
    assert_eq!(
        room["participants"].as_array().unwrap().len(),
        2,
        "one seat each, no duplicate"
    );
    // The others saw neither a leave nor a second join.
    assert_eq!(
        chair
            .ask(json!({"type": "chat", "text": "still here?"}))
            .await["type"],
        "ack"
    );
    loop {
        let m = chair.next().await.expect("open");
        assert_ne!(m["type"], "participant_left", "{m}");
        assert_ne!(m["type"], "participant_joined", "{m}");
        if m["type"] == "chat" {
            break;
        }
    }
    assert_eq!(back.until("chat").await["message"]["text"], "still here?");

    // Removed: the seat is gone, the token is worthless.
    assert_eq!(
        chair
            .ask(json!({"type": "remove", "participant": me}))
            .await["type"],
        "ack"
    );
    let mut again = Ws::connect(&s).await;
    let refused = again
        .ask(json!({"type": "join", "access_code": code, "name": "Guest", "resume_token": token}))
        .await;
    assert_eq!(refused["code"], "not_in_room", "{refused}");

    // Blocked: likewise, and the answer says why.
    let mut other = Ws::connect(&s).await;
    let joined = other.join(&code, Some("2468"), None, "Other").await;
    let other_token = joined["resume_token"].as_str().unwrap().to_owned();
    assert_eq!(
        chair
            .ask(json!({"type": "remove", "participant": joined["participant"], "block": true}))
            .await["type"],
        "ack"
    );
    let refused = again.ask(json!({"type": "join", "access_code": code, "name": "Other", "resume_token": other_token})).await;
    assert_eq!(refused["code"], "blocked", "{refused}");
    let forged = again.ask(json!({"type": "join", "access_code": code, "name": "X", "resume_token": "not-a-token"})).await;
    assert_eq!(forged["code"], "invalid_resume_token");
}

async fn the_signed_in_owner_chairs_and_promotes_and_cannot_be_removed(b: Backend) {
    let s = TestServer::start(b).await;
    let (token, body) = s.sign_up().await;
    let code = body["line"]["access_code"].as_str().unwrap().to_owned();
    let pin = body["moderator_pin"].as_str().unwrap().to_owned();
    // The owner, signed in, needs no PIN.
    let mut owner = Ws::connect(&s).await;
    let joined = owner
        .ask(json!({"type": "join", "access_code": code, "name": "Owner", "account_token": token}))
        .await;
    assert_eq!(
        (joined["role"].as_str(), joined["owner"].as_bool()),
        (Some("moderator"), Some(true)),
        "{joined}"
    );
    let owner_id = joined["participant"].clone();
    // A bad account token is refused, and the connection stays.
    let mut bad = Ws::connect(&s).await;
    let refused = bad
        .ask(json!({"type": "join", "access_code": code, "name": "X", "account_token": "nope"}))
        .await;
    assert_eq!(refused["code"], "unauthorized");
    // Someone else's account is just a participant.
    let (other_token, _) = s.sign_up().await;
    let joined = bad
        .ask(json!({"type": "join", "access_code": code, "name": "Guest", "account_token": other_token}))
        .await;
    assert_eq!(
        (joined["role"].as_str(), joined["owner"].as_bool()),
        (Some("participant"), Some(false))
    );
    let guest_id = joined["participant"].clone();
    let mut guest = bad;
    let mut deputy = Ws::connect(&s).await;
    deputy.join(&code, None, Some(&pin), "Deputy").await;

    // The owner promotes the guest: everyone is told, the guest gets a fresh view.
    let promoted = owner
        .ask(json!({"type": "promote", "participant": guest_id}))
        .await;
    assert_eq!(promoted["type"], "ack");
    let changed = deputy.until("role_changed").await;
    assert_eq!(
        (&changed["participant"], changed["role"].as_str()),
        (&guest_id, Some("moderator"))
    );
    room_with_role(&mut guest, "moderator").await;
    // A moderator may act now: lock.
    assert_eq!(guest.ask(json!({"type": "lock"})).await["type"], "ack");
    // The owner is protected from other moderators.
    for action in ["remove", "demote"] {
        let refused = deputy
            .ask(json!({"type": action, "participant": owner_id}))
            .await;
        assert_eq!(refused["code"], "invalid_target", "{action}: {refused}");
    }
    // Demoted by a moderator, the guest loses what moderators may do.
    assert_eq!(
        deputy
            .ask(json!({"type": "demote", "participant": guest_id}))
            .await["type"],
        "ack"
    );
    room_with_role(&mut guest, "participant").await;
    assert_eq!(
        guest.ask(json!({"type": "unlock"})).await["code"],
        "forbidden"
    );
    // The owner's seat is marked for everyone.
    let mut late = Ws::connect(&s).await;
    late.join(&code, None, Some(&pin), "Late").await;
    let snapshot = late.until("room").await;
    let owner_seat = snapshot["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == owner_id)
        .cloned()
        .unwrap();
    assert_eq!(owner_seat["owner"], true);
}

async fn a_block_bars_the_signed_in_account_on_any_device(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, body) = s.sign_up().await;
    let code = body["line"]["access_code"].as_str().unwrap().to_owned();
    let pin = body["moderator_pin"].as_str().unwrap().to_owned();
    let mut chair = Ws::connect(&s).await;
    chair.join(&code, None, Some(&pin), "Chair").await;
    let (troll_token, _) = s.sign_up().await;
    let mut troll = Ws::connect(&s).await;
    let joined = troll
        .ask(json!({"type": "join", "access_code": code, "name": "Troll", "account_token": troll_token}))
        .await;
    let troll_id = joined["participant"].clone();
    let blocked = chair
        .ask(json!({"type": "remove", "participant": troll_id, "block": true}))
        .await;
    assert_eq!(blocked["type"], "ack");
    // A new device (no device token), same account: refused.
    let mut again = Ws::connect(&s).await;
    let refused = again
        .ask(json!({"type": "join", "access_code": code, "name": "Not a troll", "account_token": troll_token}))
        .await;
    assert_eq!(refused["code"], "blocked", "{refused}");
    // Without signing in, on a new device, the server cannot tell: after a
    // block such a guest waits for a moderator (docs/room.md).
    let anonymous = again.join(&code, None, None, "Anonymous").await;
    assert_eq!(anonymous["type"], "waiting", "{anonymous}");
}

/// Skips to the next `room` snapshot that gives this client `role`.
async fn room_with_role(ws: &mut Ws, role: &str) {
    loop {
        if ws.until("room").await["role"] == role {
            return;
        }
    }
}

/// A browser's device credential is its cookie: an upgrade without one gets
/// one, the join uses it as the device, and whoever comes back with it
/// after a block is refused. A `device_token` in the join wins over it.
#[actix_web::test]
async fn the_device_cookie_is_the_identity_a_block_bars() {
    let s = TestServer::start(Backend::Sqlite).await;
    let (code, pin) = line_with_security(&s).await;
    let mut chair = Ws::connect(&s).await;
    chair.join(&code, Some("2468"), Some(&pin), "Chair").await;

    let (mut guest, set) = Ws::connect_with_cookie(&s, None).await;
    let set = set.expect("an upgrade without the cookie sets it");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=34560000"] {
        assert!(set.contains(part), "{set}");
    }
    assert!(!set.contains("Secure"), "not over plain http: {set}");
    let cookie = set.split(';').next().unwrap().to_owned();
    let token = cookie.split_once('=').unwrap().1.to_owned();
    let joined = guest.join(&code, Some("2468"), None, "Guest").await;
    assert_eq!(
        joined["device_token"],
        token.as_str(),
        "the cookie is the device"
    );
    // The page load sets the same kind of cookie, and keeps one it is sent.
    let page = awc::Client::new()
        .get(s.url("/"))
        .insert_header(("cookie", cookie.as_str()))
        .send()
        .await
        .unwrap();
    let renewed = page.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(renewed.starts_with(&format!("{cookie};")), "{renewed}");

    let guest_id = joined["participant"].clone();
    chair
        .ask(json!({"type": "remove", "participant": guest_id, "block": true}))
        .await;
    assert_eq!(guest.until("closed").await["reason"], "blocked");
    let (mut again, set) = Ws::connect_with_cookie(&s, Some(&cookie)).await;
    assert_eq!(set, None, "a cookie sent is kept");
    let refused = again.join(&code, Some("2468"), None, "Guest again").await;
    assert_eq!(refused["code"], "blocked", "{refused}");
    // A client naming another device in its join is that device instead:
    // not blocked, but unknown after a block, so it waits.
    let other = again
        .ask(
            json!({"type": "join", "access_code": code, "security_code": "2468", "name": "G",
            "device_token": "A".repeat(43)}),
        )
        .await;
    assert_eq!(other["type"], "waiting", "{other}");
    assert_eq!(other["device_token"], "A".repeat(43).as_str());
}

/// Chat with control characters, names that show nothing or reorder text,
/// and malformed ids: typed errors, nothing sent to anyone, no value quoted.
#[actix_web::test]
async fn text_that_should_not_pass_is_refused() {
    let s = TestServer::start(Backend::Sqlite).await;
    let (code, pin) = line_with_security(&s).await;
    let mut chair = Ws::connect(&s).await;
    chair.join(&code, Some("2468"), Some(&pin), "Chair").await;
    let mut guest = Ws::connect(&s).await;
    for name in ["\u{200B}", "\u{2060}\u{FEFF} ", "\u{202E}"] {
        let refused = guest.join(&code, Some("2468"), None, name).await;
        assert_eq!(refused["code"], "invalid_text", "{name:?}: {refused}");
    }
    let joined = guest
        .join(&code, Some("2468"), None, "Mallory\u{202E}gnp.exe")
        .await;
    assert_eq!(joined["type"], "joined");
    let arrived = chair.until("participant_joined").await;
    assert_eq!(arrived["participant"]["name"], "Mallorygnp.exe");
    for text in ["a\u{0}b", "\u{1b}[2J", "bell\u{7}"] {
        let refused = guest.ask(json!({"type": "chat", "text": text})).await;
        assert_eq!(refused["code"], "invalid_text", "{text:?}: {refused}");
    }
    assert_eq!(
        guest
            .ask(json!({"type": "chat", "text": "two\n\tlines"}))
            .await["type"],
        "ack"
    );
    assert_eq!(
        chair.until("chat").await["message"]["text"],
        "two\n\tlines",
        "the refused messages reached nobody"
    );
    let bad = chair
        .ask(json!({"type": "remove", "participant": "nope-123"}))
        .await;
    assert_eq!(
        (bad["code"].as_str(), bad["message"].as_str()),
        (Some("bad_request"), Some("participant: not a valid id")),
        "{bad}"
    );
}
