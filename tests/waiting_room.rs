//! The waiting room over real WebSockets, on both stores: who waits,
//! admit, deny and admit all; the PIN goes straight in; after a block a
//! fresh client waits; guessing from many addresses holds the right codes
//! instead of refusing them; the setting survives a restart and follows
//! the account's default.

mod common;

use common::{line_with_security, owned_line_with_security, Backend, TestServer, Ws};
use serde_json::{json, Value};

on_both_stores!(actix:
    newcomers_wait_and_moderators_admit_deny_or_admit_all,
    after_a_block_a_fresh_client_waits_for_a_moderator,
    guessing_from_ten_addresses_holds_the_right_codes_and_warns_the_moderators,
    the_setting_survives_a_restart_and_follows_the_account_default,
    one_address_cannot_fill_the_waiting_list,
);

/// Joins and expects to wait; answers the `waiting` answer.
async fn wait(ws: &mut Ws, code: &str, name: &str) -> Value {
    let answer = ws.join(code, Some("2468"), None, name).await;
    assert_eq!(answer["type"], "waiting", "{answer}");
    answer
}

/// The next `waiting_joined` a moderator sees; answers the waiter.
async fn knock(chair: &mut Ws) -> Value {
    chair.until("waiting_joined").await["waiter"].clone()
}

async fn newcomers_wait_and_moderators_admit_deny_or_admit_all(b: Backend) {
    let s = TestServer::start(b).await;
    let (code, pin) = line_with_security(&s).await;
    let mut chair = Ws::connect(&s).await;
    let chair_joined = chair.join(&code, Some("2468"), Some(&pin), "Chair").await;
    let room = chair.until("room").await;
    assert_eq!(
        (room["waiting_room"].as_str(), room["waiting"].clone()),
        (Some("off"), json!([]))
    );
    let set = chair
        .ask(json!({"type": "set_waiting_room", "setting": "everyone"}))
        .await;
    assert_eq!(
        (set["type"].as_str(), set["durable"].as_bool()),
        (Some("ack"), Some(true)),
        "{set}"
    );
    assert_eq!(chair.until("waiting_room").await["setting"], "everyone");
    let bad = chair
        .ask(json!({"type": "set_waiting_room", "setting": "sometimes"}))
        .await;
    assert_eq!(bad["code"], "bad_request", "{bad}");

    // Ada waits; the chair sees her and lets her in.
    let mut ada = Ws::connect(&s).await;
    let waiting = wait(&mut ada, &code, "Ada").await;
    let ada_id = waiting["participant"].clone();
    let waiter = knock(&mut chair).await;
    assert_eq!(
        (
            &waiter["id"],
            waiter["name"].as_str(),
            waiter["reason"].as_str()
        ),
        (&ada_id, Some("Ada"), Some("setting"))
    );
    // Waiting is not being in the room: no moderator action, no chat.
    assert_eq!(
        ada.ask(json!({"type": "lock"})).await["code"],
        "not_in_room"
    );
    assert_eq!(
        ada.ask(json!({"type": "chat", "text": "hi"})).await["code"],
        "not_in_room"
    );
    let admit = chair
        .ask(json!({"type": "admit", "participant": ada_id}))
        .await;
    assert_eq!(admit["type"], "ack", "{admit}");
    let joined = ada.until("joined").await;
    assert_eq!(
        (
            &joined["participant"],
            joined["role"].as_str(),
            &joined["id"]
        ),
        (&ada_id, Some("participant"), &Value::Null),
        "{joined}"
    );
    assert!(joined["resume_token"].is_string());
    let room = ada.until("room").await;
    assert_eq!(room["participants"].as_array().unwrap().len(), 2);
    assert_eq!(
        room["waiting"],
        json!([]),
        "participants never see the list"
    );
    let left = chair.until("waiting_left").await;
    assert_eq!(
        (&left["participant"], left["outcome"].as_str(), &left["by"]),
        (&ada_id, Some("admitted"), &chair_joined["participant"])
    );
    // A participant may not admit.
    let mut bob = Ws::connect(&s).await;
    let bob_id = wait(&mut bob, &code, "Bob").await["participant"].clone();
    knock(&mut chair).await;
    assert_eq!(
        ada.ask(json!({"type": "admit", "participant": bob_id}))
            .await["code"],
        "forbidden"
    );
    // Denied: told so, closed, and barred from waiting again for a while.
    assert_eq!(
        chair
            .ask(json!({"type": "deny", "participant": bob_id}))
            .await["type"],
        "ack"
    );
    assert_eq!(bob.until("closed").await["reason"], "denied");
    assert!(bob.next().await.is_err(), "the connection closes");
    let device = bob
        .captured
        .iter()
        .find_map(|t| {
            let m: Value = serde_json::from_str(t).ok()?;
            m["device_token"].as_str().map(str::to_owned)
        })
        .expect("the waiting answer gave a device token");
    let mut again = Ws::connect(&s).await;
    let refused = again
        .ask(json!({"type": "join", "access_code": code, "security_code": "2468", "name": "Bob", "device_token": device}))
        .await;
    assert_eq!(refused["code"], "denied", "{refused}");
    // Unknown targets are refused.
    assert_eq!(
        chair
            .ask(json!({"type": "admit", "participant": bob_id}))
            .await["code"],
        "unknown_participant"
    );

    // Two wait, one gives up, "admit all" seats the other.
    let mut cy = Ws::connect(&s).await;
    let mut dee = Ws::connect(&s).await;
    let cy_id = wait(&mut cy, &code, "Cy").await["participant"].clone();
    wait(&mut dee, &code, "Dee").await;
    assert_eq!(cy.ask(json!({"type": "leave"})).await["type"], "ack");
    loop {
        let m = chair.until("waiting_left").await;
        if m["participant"] == cy_id {
            assert_eq!(m["outcome"], "gone");
            break;
        }
    }
    assert_eq!(chair.ask(json!({"type": "admit_all"})).await["type"], "ack");
    assert_eq!(dee.until("joined").await["role"], "participant");
    // The moderator PIN never waits.
    let mut second = Ws::connect(&s).await;
    let answer = second
        .join(&code, Some("2468"), Some(&pin), "Second chair")
        .await;
    assert_eq!(answer["type"], "joined", "{answer}");
    // A moderator who joins later learns who waits from the snapshot.
    let mut eve = Ws::connect(&s).await;
    wait(&mut eve, &code, "Eve").await;
    knock(&mut chair).await;
    let mut third = Ws::connect(&s).await;
    third.join(&code, Some("2468"), Some(&pin), "Third").await;
    let room = third.until("room").await;
    assert_eq!(room["waiting"][0]["name"], "Eve", "{room}");
}

async fn after_a_block_a_fresh_client_waits_for_a_moderator(b: Backend) {
    let s = TestServer::start(b).await;
    let (code, pin) = line_with_security(&s).await;
    let mut chair = Ws::connect(&s).await;
    chair.join(&code, Some("2468"), Some(&pin), "Chair").await;
    let mut troll = Ws::connect(&s).await;
    let joined = troll.join(&code, Some("2468"), None, "Troll").await;
    assert_eq!(joined["type"], "joined", "the waiting room is off");
    let blocked = chair
        .ask(json!({"type": "remove", "participant": joined["participant"], "block": true}))
        .await;
    assert_eq!(blocked["type"], "ack");
    // The same person from a fresh client (no device credential): waits,
    // and the moderators see the name they chose and why they wait.
    let mut fresh = Ws::connect(&s).await;
    let answer = fresh.join(&code, Some("2468"), None, "Troll").await;
    assert_eq!(answer["type"], "waiting", "{answer}");
    let waiter = knock(&mut chair).await;
    assert_eq!(
        (waiter["name"].as_str(), waiter["reason"].as_str()),
        (Some("Troll"), Some("after_block"))
    );
    assert_eq!(
        chair
            .ask(json!({"type": "deny", "participant": answer["participant"]}))
            .await["type"],
        "ack"
    );
    assert_eq!(fresh.until("closed").await["reason"], "denied");
    // The moderator PIN still goes straight in.
    let mut second = Ws::connect(&s).await;
    assert_eq!(
        second
            .join(&code, Some("2468"), Some(&pin), "Second chair")
            .await["type"],
        "joined"
    );
}

async fn guessing_from_ten_addresses_holds_the_right_codes_and_warns_the_moderators(b: Backend) {
    let s = TestServer::start(b).await;
    let (code, pin) = line_with_security(&s).await;
    let mut chair = Ws::connect(&s).await;
    chair.join(&code, Some("2468"), Some(&pin), "Chair").await;
    for n in 2..12u8 {
        let mut guesser = Ws::connect_from(&s, [127, 0, 0, n].into()).await;
        let answer = guesser.join(&code, Some("0000"), None, "Guess").await;
        assert_eq!(answer["code"], "invalid_credentials", "{answer}");
    }
    // The conference's limit is reached: the right codes wait instead of
    // being refused, and the moderators learn why.
    let mut ada = Ws::connect_from(&s, [127, 0, 0, 20].into()).await;
    let answer = ada.join(&code, Some("2468"), None, "Ada").await;
    assert_eq!(answer["type"], "waiting", "{answer}");
    let waiter = knock(&mut chair).await;
    assert_eq!(
        (waiter["name"].as_str(), waiter["reason"].as_str()),
        (Some("Ada"), Some("codes_guessed"))
    );
    chair
        .ask(json!({"type": "admit", "participant": answer["participant"]}))
        .await;
    assert_eq!(ada.until("joined").await["role"], "participant");
    // A wrong security code is answered the same way: it seems to wait,
    // as a waiter's connection does, but nobody sees it or can admit it.
    let mut guesser = Ws::connect_from(&s, [127, 0, 0, 21].into()).await;
    let deflected = guesser.join(&code, Some("1111"), None, "Guess").await;
    let keys = |m: &Value| {
        let mut k: Vec<_> = m.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(deflected["type"], "waiting", "{deflected}");
    assert_eq!(
        keys(&deflected),
        keys(&answer),
        "the same shape as a real wait"
    );
    assert_eq!(deflected["conference"], answer["conference"]);
    for request in [
        json!({"type": "lock"}),
        json!({"type": "chat", "text": "hi"}),
    ] {
        assert_eq!(guesser.ask(request).await["code"], "not_in_room");
    }
    assert_eq!(
        chair
            .ask(json!({"type": "admit", "participant": deflected["participant"]}))
            .await["code"],
        "unknown_participant"
    );
    let ping = chair.ask(json!({"type": "ping"})).await;
    assert_eq!(ping["type"], "pong");
    assert!(
        !chair.captured.iter().any(|t| t.contains("Guess")),
        "the moderators never see a deflected join"
    );
    assert_eq!(guesser.ask(json!({"type": "leave"})).await["type"], "ack");
    // No PIN is tried meanwhile, and the HTTP check tells nothing either.
    let mut more = Ws::connect_from(&s, [127, 0, 0, 22].into()).await;
    let pin_try = more.join(&code, Some("2468"), Some(&pin), "Chair?").await;
    assert_eq!(pin_try["code"], "throttled", "{pin_try}");
    let (status, body) = s
        .call(
            "POST",
            "/api/v1/join/check",
            Some(json!({"access_code": code, "security_code": "2468"})),
            None,
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (429, Some("throttled")));
}

async fn the_setting_survives_a_restart_and_follows_the_account_default(b: Backend) {
    let s = TestServer::start(b).await;
    let (token, code, pin) = owned_line_with_security(&s).await;
    let (status, body) = s
        .call("GET", "/api/v1/account/waiting-room", None, Some(&token))
        .await;
    assert_eq!((status, body), (200, json!({"waiting_room": "off"})));
    let (status, body) = s
        .call(
            "PUT",
            "/api/v1/account/waiting-room",
            Some(json!({"waiting_room": "never"})),
            Some(&token),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_field"))
    );
    let (status, _) = s
        .call(
            "PUT",
            "/api/v1/account/waiting-room",
            Some(json!({"waiting_room": "unknown_guests"})),
            Some(&token),
        )
        .await;
    assert_eq!(status, 204);
    // The line follows the default: an unknown guest waits.
    let mut chair = Ws::connect(&s).await;
    chair.join(&code, Some("2468"), Some(&pin), "Chair").await;
    assert_eq!(chair.until("room").await["waiting_room"], "unknown_guests");
    let mut guest = Ws::connect(&s).await;
    assert_eq!(
        guest.join(&code, Some("2468"), None, "Guest").await["type"],
        "waiting"
    );
    // The moderators' choice in the room wins over the default, and stays.
    chair
        .ask(json!({"type": "set_waiting_room", "setting": "everyone"}))
        .await;
    drop((chair, guest));
    let s = s.restart().await;
    let mut chair = Ws::connect(&s).await;
    chair.join(&code, Some("2468"), Some(&pin), "Chair").await;
    assert_eq!(chair.until("room").await["waiting_room"], "everyone");
}

async fn one_address_cannot_fill_the_waiting_list(b: Backend) {
    let s = TestServer::start(b).await;
    let (code, pin) = line_with_security(&s).await;
    let mut chair = Ws::connect(&s).await;
    chair.join(&code, Some("2468"), Some(&pin), "Chair").await;
    chair
        .ask(json!({"type": "set_waiting_room", "setting": "everyone"}))
        .await;
    let mut waiting = Vec::new();
    for n in 0..3 {
        let mut ws = Ws::connect_from(&s, [127, 0, 0, 30].into()).await;
        wait(&mut ws, &code, &format!("Fresh browser {n}")).await;
        waiting.push(ws);
    }
    let mut fourth = Ws::connect_from(&s, [127, 0, 0, 30].into()).await;
    let refused = fourth
        .join(&code, Some("2468"), None, "Fresh browser 3")
        .await;
    assert_eq!(refused["code"], "too_many_waiting", "{refused}");
    let mut elsewhere = Ws::connect_from(&s, [127, 0, 0, 31].into()).await;
    wait(&mut elsewhere, &code, "Someone else").await;
}
