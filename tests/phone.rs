//! The telephony gateway against a running server, on both stores: callers
//! go through the IVR, `*5` toggles the lock for moderators only, numbers
//! are masked in every frame a non-moderator receives, a named caller is
//! recognised when calling again, three wrong codes hang up, callers are
//! throttled by number, by gateway connection and across the gateway, a
//! blocked number is refused, and a caller waits in the waiting room.

mod common;

use common::{line_with_security, Backend, TestServer, Ws};
use serde_json::{json, Value};

on_both_stores!(actix:
    callers_join_through_the_ivr_and_star5_is_for_moderators,
    three_wrong_codes_hang_up_and_callers_are_throttled_by_number,
    a_blocked_number_is_refused_when_it_calls_again,
    the_gateway_needs_its_secret,
    guesses_from_many_numbers_reach_the_gateway_limits,
    a_caller_waits_until_a_moderator_admits_or_denies,
);

const SECRET: &str = "a-long-gateway-secret-for-tests";
const NUMBER: &str = "+441234567123";

async fn server(b: Backend, max_failures: u32) -> TestServer {
    TestServer::start_with(
        b,
        |c| {
            c.gateway_secret = Some(conclave::secrets::GatewaySecret::new(SECRET.into()).unwrap());
            c.join_throttle.max_failures = max_failures;
        },
        std::sync::Arc::new(conclave::clock::SystemClock),
    )
    .await
}

/// The next message for `call` (other calls' messages are kept aside).
async fn next_for(gw: &mut Ws, call: &str) -> Value {
    loop {
        let m = gw.next().await.expect("the gateway stays connected");
        if m["call"] == call {
            return m;
        }
    }
}

async fn expect_prompt(gw: &mut Ws, call: &str, prompt: &str) {
    let m = next_for(gw, call).await;
    assert_eq!(
        (m["type"].as_str(), m["prompt"].as_str()),
        (Some("prompt"), Some(prompt)),
        "{m}"
    );
}

async fn dtmf(gw: &mut Ws, call: &str, digits: &str) {
    gw.send(json!({"type": "dtmf", "call": call, "digits": digits}))
        .await;
}

/// Dials in and goes through the IVR; `pin` is `None` for `#` alone.
async fn dial_in(gw: &mut Ws, call: &str, from: &str, code: &str, pin: Option<&str>) {
    gw.send(json!({"type": "call", "call": call, "from": from}))
        .await;
    expect_prompt(gw, call, "enter_access_code").await;
    dtmf(gw, call, &format!("{code}#")).await;
    expect_prompt(gw, call, "enter_security_code").await;
    dtmf(gw, call, "2468#").await;
    expect_prompt(gw, call, "enter_moderator_pin").await;
    dtmf(gw, call, &format!("{}#", pin.unwrap_or(""))).await;
    expect_prompt(gw, call, "joined").await;
}

async fn callers_join_through_the_ivr_and_star5_is_for_moderators(b: Backend) {
    let s = server(b, 10).await;
    let (code, pin) = line_with_security(&s).await;
    let mut chair = Ws::connect(&s).await;
    chair.join(&code, Some("2468"), Some(&pin), "Chair").await;
    let mut guest = Ws::connect(&s).await;
    guest.join(&code, Some("2468"), None, "Guest").await;
    let mut gw = Ws::gateway(&s, SECRET)
        .await
        .expect("the gateway is admitted");

    dial_in(&mut gw, "c1", NUMBER, &code, None).await;
    let seen_by_guest = guest.until("participant_joined").await;
    let caller = &seen_by_guest["participant"];
    assert_eq!(
        (caller["phone"].as_bool(), caller["number"].as_str()),
        (Some(true), Some("+44•••••••123")),
        "{caller}"
    );
    assert_eq!(
        caller["name"], "+44•••••••123",
        "no contact yet: the masked number"
    );
    let caller_id = caller["id"].clone();
    let seen_by_chair = loop {
        let m = chair.until("participant_joined").await;
        if m["participant"]["phone"] == true {
            break m;
        }
    };
    assert_eq!(
        seen_by_chair["participant"]["number"], NUMBER,
        "moderators see the full number"
    );

    // A participant's *5 is refused; the room stays open.
    dtmf(&mut gw, "c1", "*5").await;
    expect_prompt(&mut gw, "c1", "not_allowed").await;
    // A caller with the PIN is a moderator: *5 locks, *5 again unlocks.
    dial_in(&mut gw, "c2", "+12025550143", &code, Some(&pin)).await;
    dtmf(&mut gw, "c2", "*5").await;
    expect_prompt(&mut gw, "c2", "locked").await;
    assert_eq!(chair.until("locked").await["type"], "locked");
    let mut late = Ws::connect(&s).await;
    assert_eq!(
        late.join(&code, Some("2468"), None, "Late").await["code"],
        "locked"
    );
    dtmf(&mut gw, "c2", "*5").await;
    expect_prompt(&mut gw, "c2", "unlocked").await;
    assert_eq!(guest.until("unlocked").await["type"], "unlocked");

    // Named by a moderator: saved in the owner's address book...
    let named = chair
        .ask(json!({"type": "name_caller", "participant": caller_id, "name": "Grace"}))
        .await;
    assert_eq!(
        (named["type"].as_str(), named["durable"].as_bool()),
        (Some("ack"), Some(true)),
        "{named}"
    );
    assert_eq!(guest.until("caller_named").await["name"], "Grace");
    gw.send(json!({"type": "hangup", "call": "c1"})).await;
    let left = guest.until("participant_left").await;
    assert_eq!(
        (&left["participant"], left["reason"].as_str()),
        (&caller_id, Some("left"))
    );
    // ...and recognised when the same number calls again.
    dial_in(&mut gw, "c3", NUMBER, &code, None).await;
    let again = guest.until("participant_joined").await;
    assert_eq!(again["participant"]["name"], "Grace", "{again}");
    assert_eq!(again["participant"]["number"], "+44•••••••123");

    // Masking, by captured frames: nothing the guest was ever sent holds
    // the full number, or even its middle digits; the chair's frames do.
    for frame in &guest.captured {
        assert!(
            !frame.contains("1234567"),
            "a participant received a full number: {frame}"
        );
        assert!(
            !frame.contains("2025550"),
            "a participant received a full number: {frame}"
        );
    }
    assert!(guest.captured.len() > 5);
    assert!(chair.captured.iter().any(|f| f.contains(NUMBER)));
}

async fn three_wrong_codes_hang_up_and_callers_are_throttled_by_number(b: Backend) {
    let s = server(b, 4).await;
    let (code, _) = line_with_security(&s).await;
    let mut gw = Ws::gateway(&s, SECRET).await.unwrap();
    gw.send(json!({"type": "call", "call": "a", "from": NUMBER}))
        .await;
    expect_prompt(&mut gw, "a", "enter_access_code").await;
    for _ in 0..2 {
        dtmf(&mut gw, "a", "1111111111#").await;
        expect_prompt(&mut gw, "a", "invalid_access_code").await;
        expect_prompt(&mut gw, "a", "enter_access_code").await;
    }
    dtmf(&mut gw, "a", "1111111111#").await;
    expect_prompt(&mut gw, "a", "too_many_attempts").await;
    let hangup = next_for(&mut gw, "a").await;
    assert_eq!(
        (hangup["type"].as_str(), hangup["reason"].as_str()),
        (Some("hangup"), Some("ivr"))
    );
    // Keys for a call that is over: a typed error, the connection stays.
    dtmf(&mut gw, "a", "1#").await;
    assert_eq!(next_for(&mut gw, "a").await["code"], "unknown_call");

    // The same number calls again: one more failure reaches the limit (4),
    // and then even the right code is refused: try later.
    gw.send(json!({"type": "call", "call": "b", "from": NUMBER}))
        .await;
    expect_prompt(&mut gw, "b", "enter_access_code").await;
    dtmf(&mut gw, "b", "2222222222#").await;
    expect_prompt(&mut gw, "b", "invalid_access_code").await;
    expect_prompt(&mut gw, "b", "enter_access_code").await;
    dtmf(&mut gw, "b", &format!("{code}#")).await;
    expect_prompt(&mut gw, "b", "try_later").await;
    assert_eq!(next_for(&mut gw, "b").await["type"], "hangup");
    // Another number is not held back by the number's count; on this
    // connection it would be by the connection's (4 failures on it too),
    // so it calls through another connection.
    let mut gw = Ws::gateway(&s, SECRET).await.unwrap();
    gw.send(json!({"type": "call", "call": "c", "from": "+33612345678"}))
        .await;
    expect_prompt(&mut gw, "c", "enter_access_code").await;
    dtmf(&mut gw, "c", &format!("{code}#")).await;
    expect_prompt(&mut gw, "c", "enter_security_code").await;

    // Bad frames: typed errors, the connection stays; a malformed one closes it.
    gw.send(json!({"type": "call", "call": "d", "from": "not a number"}))
        .await;
    assert_eq!(gw.until("error").await["code"], "bad_request");
    gw.send(json!({"type": "dtmf", "call": "c", "digits": "12a"}))
        .await;
    assert_eq!(gw.until("error").await["code"], "bad_request");
    gw.send(json!({"type": "call", "call": "c", "from": NUMBER}))
        .await;
    assert_eq!(gw.until("error").await["code"], "duplicate_call");
    gw.send_text("{not json").await;
    let closed = loop {
        match gw.next().await {
            Ok(_) => continue,
            Err(reason) => break reason,
        }
    };
    assert_eq!(
        closed.and_then(|r| r.description).as_deref(),
        Some("malformed_json")
    );
}

async fn a_blocked_number_is_refused_when_it_calls_again(b: Backend) {
    let s = server(b, 10).await;
    let (code, pin) = line_with_security(&s).await;
    let mut chair = Ws::connect(&s).await;
    chair.join(&code, Some("2468"), Some(&pin), "Chair").await;
    let mut gw = Ws::gateway(&s, SECRET).await.unwrap();
    dial_in(&mut gw, "x", NUMBER, &code, None).await;
    let caller = chair.until("participant_joined").await["participant"]["id"].clone();
    let blocked = chair
        .ask(json!({"type": "remove", "participant": caller, "block": true}))
        .await;
    assert_eq!(blocked["durable"], true, "{blocked}");
    let hangup = next_for(&mut gw, "x").await;
    assert_eq!(
        (hangup["type"].as_str(), hangup["reason"].as_str()),
        (Some("hangup"), Some("blocked")),
        "{hangup}"
    );
    // The same number, even with the moderator PIN, is refused.
    gw.send(json!({"type": "call", "call": "y", "from": NUMBER}))
        .await;
    expect_prompt(&mut gw, "y", "enter_access_code").await;
    dtmf(&mut gw, "y", &format!("{code}#2468#{pin}#")).await;
    expect_prompt(&mut gw, "y", "enter_security_code").await;
    expect_prompt(&mut gw, "y", "enter_moderator_pin").await;
    expect_prompt(&mut gw, "y", "blocked").await;
    assert_eq!(next_for(&mut gw, "y").await["type"], "hangup");
}

async fn the_gateway_needs_its_secret(b: Backend) {
    let s = server(b, 10).await;
    assert_eq!(
        Ws::gateway(&s, "wrong-secret-of-some-length").await.err(),
        Some(401)
    );
    assert_eq!(Ws::gateway(&s, "").await.err(), Some(401));
    // Off unless configured.
    let off = TestServer::start(b).await;
    assert_eq!(Ws::gateway(&off, SECRET).await.err(), Some(404));
}

/// One wrong access code from each of `count` fresh numbers on `gw`, each
/// answered `invalid_access_code`; the calls are then hung up.
async fn guesses_from_fresh_numbers(gw: &mut Ws, tag: &str, count: usize) {
    for n in 0..count {
        let call = format!("{tag}{n}");
        gw.send(json!({"type": "call", "call": call, "from": format!("+4420{n:08}")}))
            .await;
        expect_prompt(gw, &call, "enter_access_code").await;
        dtmf(gw, &call, "1111111111#").await;
        expect_prompt(gw, &call, "invalid_access_code").await;
        expect_prompt(gw, &call, "enter_access_code").await;
        gw.send(json!({"type": "hangup", "call": call})).await;
    }
}

/// The first prompt after the access code, for a call from a fresh number.
async fn answer_to_code(gw: &mut Ws, call: &str, from: &str, code: &str) -> Value {
    gw.send(json!({"type": "call", "call": call, "from": from}))
        .await;
    expect_prompt(gw, call, "enter_access_code").await;
    dtmf(gw, call, &format!("{code}#")).await;
    next_for(gw, call).await
}

async fn guesses_from_many_numbers_reach_the_gateway_limits(b: Backend) {
    // Per connection: with the gateway-wide ceiling out of the way, fresh
    // numbers on one connection share its count (10, as a web address).
    let s = TestServer::start_with(
        b,
        |c| {
            c.gateway_secret = Some(conclave::secrets::GatewaySecret::new(SECRET.into()).unwrap());
            c.gateway_throttle.max_failures = 1000;
        },
        std::sync::Arc::new(conclave::clock::SystemClock),
    )
    .await;
    let (code, _) = line_with_security(&s).await;
    let mut gw = Ws::gateway(&s, SECRET).await.unwrap();
    guesses_from_fresh_numbers(&mut gw, "p", 10).await;
    let m = answer_to_code(&mut gw, "p-next", "+33600000001", &code).await;
    assert_eq!(m["prompt"], "try_later", "{m}");
    let mut other = Ws::gateway(&s, SECRET).await.unwrap();
    let m = answer_to_code(&mut other, "o", "+33600000002", &code).await;
    assert_eq!(
        m["prompt"], "enter_security_code",
        "another connection: {m}"
    );
    drop(s);

    // Across the gateway: 10 unknown codes over two connections (defaults),
    // then every access code, right or wrong, on any connection: try later.
    let s = server(b, 1000).await;
    let (code, _) = line_with_security(&s).await;
    let mut one = Ws::gateway(&s, SECRET).await.unwrap();
    let mut two = Ws::gateway(&s, SECRET).await.unwrap();
    guesses_from_fresh_numbers(&mut one, "a", 5).await;
    guesses_from_fresh_numbers(&mut two, "b", 5).await;
    let m = answer_to_code(&mut one, "right", "+33600000003", &code).await;
    assert_eq!(m["prompt"], "try_later", "{m}");
    let mut three = Ws::gateway(&s, SECRET).await.unwrap();
    let m = answer_to_code(&mut three, "wrong", "+33600000004", "2222222222").await;
    assert_eq!(m["prompt"], "try_later", "{m}");
    let (_, metrics) = s.raw("GET", "/metrics", None, None, None).await;
    let metrics = metrics.as_str().unwrap();
    for line in [
        r#"conclave_gateway_access_codes_total{outcome="unknown"} 10"#,
        r#"conclave_gateway_access_codes_total{outcome="ceiling"} 2"#,
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }
}

async fn a_caller_waits_until_a_moderator_admits_or_denies(b: Backend) {
    let s = server(b, 10).await;
    let (code, pin) = line_with_security(&s).await;
    let mut chair = Ws::connect(&s).await;
    chair.join(&code, Some("2468"), Some(&pin), "Chair").await;
    chair
        .ask(json!({"type": "set_waiting_room", "setting": "unknown_guests"}))
        .await;
    let mut gw = Ws::gateway(&s, SECRET).await.unwrap();
    let waits = |call: &'static str, from: &'static str| {
        let code = code.clone();
        async move {
            vec![
                json!({"type": "call", "call": call, "from": from}),
                json!({"type": "dtmf", "call": call, "digits": format!("{code}#2468##")}),
            ]
        }
    };
    for frame in waits("c1", NUMBER).await {
        gw.send(frame).await;
    }
    for prompt in [
        "enter_access_code",
        "enter_security_code",
        "enter_moderator_pin",
        "waiting",
    ] {
        expect_prompt(&mut gw, "c1", prompt).await;
    }
    // The moderator sees the caller's full number, and admits them.
    let waiter = chair.until("waiting_joined").await["waiter"].clone();
    assert_eq!(
        (waiter["phone"].as_bool(), waiter["number"].as_str()),
        (Some(true), Some(NUMBER))
    );
    // Keys while waiting do nothing.
    dtmf(&mut gw, "c1", "*5").await;
    chair
        .ask(json!({"type": "admit", "participant": waiter["id"]}))
        .await;
    expect_prompt(&mut gw, "c1", "joined").await;
    let joined = chair.until("participant_joined").await;
    assert_eq!(joined["participant"]["id"], waiter["id"]);
    assert!(
        !chair
            .captured
            .iter()
            .any(|t| t.contains(r#""type":"locked""#)),
        "*5 did nothing"
    );

    // Another caller is denied: the prompt, then the hang-up.
    for frame in waits("c2", "+12025550143").await {
        gw.send(frame).await;
    }
    let waiter = chair.until("waiting_joined").await["waiter"].clone();
    chair
        .ask(json!({"type": "deny", "participant": waiter["id"]}))
        .await;
    for prompt in [
        "enter_access_code",
        "enter_security_code",
        "enter_moderator_pin",
        "waiting",
        "denied",
    ] {
        expect_prompt(&mut gw, "c2", prompt).await;
    }
    let hangup = next_for(&mut gw, "c2").await;
    assert_eq!(
        (hangup["type"].as_str(), hangup["reason"].as_str()),
        (Some("hangup"), Some("ivr"))
    );
}
