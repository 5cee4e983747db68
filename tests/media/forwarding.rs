//! Forwarding among three, removal and mute, the share permission, the
//! move from peer to peer to the server, and a hidden tile.

use super::*;

#[actix_web::test]
async fn three_peers_exchange_audio_and_video_through_the_server() {
    let server = media_server().await;
    let (mut m, mut b, c) = three(&server, [&["mic", "cam"]; 3]).await;
    m.level = 15;
    b.level = 100;
    // The operator's TURN server reaches every client.
    assert_eq!(
        c.ice_servers,
        json!([{"urls": ["turn:turn.example.org:3478?transport=tcp"], "username": "conclave", "credential": "turn secret"}])
    );
    let (stop, stop_rx) = oneshot::channel();
    let sender = stream(&[&m, &b, &c], stop_rx);
    for (rx, tx) in [(&m, &b), (&m, &c), (&b, &m), (&b, &c), (&c, &m), (&c, &b)] {
        for source in ["microphone", "camera"] {
            wait_for(&format!("{source} of {} at {}", tx.id, rx.id), || {
                rx.received(tx, source) >= 25
            })
            .await;
        }
    }
    // Loudest is the moderator: everyone is told.
    loop {
        let s = b.until("active_speaker").await;
        if s["participant"] == m.id.as_str() {
            break;
        }
    }
    assert!(metric(&server, "forwarded").await >= 300);
    assert_eq!(metric(&server, "duplicate").await, 0);
    let _ = stop.send(());
    let _ = sender.await;
}

#[actix_web::test]
async fn removal_and_mute_stop_the_flow_once_acknowledged() {
    // Two left after the removal would move to end to end: this room
    // stays on the server.
    let server = media_server_with(false).await;
    let (m, b, c) = three(&server, [&["mic", "cam"]; 3]).await;
    let (stop, stop_rx) = oneshot::channel();
    let sender = stream(&[&m, &b, &c], stop_rx);
    for (rx, tx) in [(&b, &c), (&b, &m), (&m, &b)] {
        wait_for("media flows", || {
            rx.received(tx, "microphone") >= 25 && rx.received(tx, "camera") >= 15
        })
        .await;
    }

    // Mute: Bea's audio stops reaching the moderator, her video does not.
    m.ok(json!({"type": "mute", "participant": b.id, "muted": true}))
        .await;
    let [mic, cam] = over(
        1000,
        [&|| m.received(&b, "microphone"), &|| {
            m.received(&b, "camera")
        }],
    )
    .await;
    assert!(mic.1 - mic.0 <= 2, "muted audio still forwarded: {mic:?}");
    assert!(cam.1 - cam.0 >= 15, "video stopped too: {cam:?}");
    m.ok(json!({"type": "mute", "participant": b.id, "muted": false}))
        .await;
    let [mic] = over(1000, [&|| m.received(&b, "microphone")]).await;
    assert!(mic.1 - mic.0 >= 25, "unmuted audio flows again: {mic:?}");

    // Removal: nothing of Cal's reaches Bea once the moderator has the ack;
    // the moderator's own media keeps flowing to her.
    m.ok(json!({"type": "remove", "participant": c.id})).await;
    let [cal_mic, cal_cam, mod_mic] = over(
        1000,
        [
            &|| b.received(&c, "microphone"),
            &|| b.received(&c, "camera"),
            &|| b.received(&m, "microphone"),
        ],
    )
    .await;
    assert!(
        cal_mic.1 - cal_mic.0 <= 2 && cal_cam.1 - cal_cam.0 <= 2,
        "a removed participant's media still forwarded: {cal_mic:?} {cal_cam:?}"
    );
    assert!(mod_mic.1 - mod_mic.0 >= 25, "{mod_mic:?}");
    assert!(metric(&server, "gated").await > 0);
    let _ = stop.send(());
    let _ = sender.await;
}

#[actix_web::test]
async fn a_screen_is_refused_and_stopped_under_share_moderators() {
    let server = media_server().await;
    let (m, p, s) = three(&server, [&["mic"], &["mic", "screen"], &["mic"]]).await;
    let (stop, stop_rx) = oneshot::channel();
    let sender = stream(&[&m, &p, &s], stop_rx);
    wait_for("the screen is forwarded while everyone may share", || {
        s.received(&p, "screen") >= 15
    })
    .await;

    m.ok(json!({"type": "set_permission", "permission": "share", "audience": "moderators"}))
        .await;
    let [screen, mic] = over(
        1000,
        [&|| s.received(&p, "screen"), &|| {
            s.received(&p, "microphone")
        }],
    )
    .await;
    assert!(
        screen.1 - screen.0 <= 2,
        "screen still forwarded: {screen:?}"
    );
    assert!(mic.1 - mic.0 >= 25, "{mic:?}");
    // Nor is what was forwarded before sent again on a NACK.
    let (resent, nacks) = (
        metric(&server, "resent").await,
        quality(&server, "nacks").await,
    );
    nack_recent(&s.remote(&p, "screen"), s.last_seq(&p, "screen"), 4, 1).await;
    settle(500).await;
    assert_eq!(
        metric(&server, "resent").await,
        resent,
        "a refused screen is not sent again"
    );
    assert!(
        quality(&server, "nacks").await > nacks,
        "the NACK is counted on /metrics"
    );

    // A new offer with a screen is refused outright, before any SDP is read.
    let refused = p
        .ask(json!({"type": "media_offer", "pc": "publish", "sdp": "v=0", "tracks": {"screen": "screen"}}))
        .await;
    assert_eq!(refused["code"], "not_permitted", "{refused}");
    // The moderator may still present.
    let fine = m
        .ask(json!({"type": "media_offer", "pc": "publish", "sdp": "not sdp", "tracks": {"x": "screen"}}))
        .await;
    assert_eq!(fine["type"], "ack", "{fine}");
    let _ = stop.send(());
    let _ = sender.await;
}

#[actix_web::test]
async fn two_talk_end_to_end_and_move_to_the_server_when_a_third_joins() {
    let server = media_server().await;
    let (code, pin) = line_with_security(&server).await;
    let mut a = Client::join(
        &server,
        &code,
        Some(&pin),
        "2468",
        "Ann",
        &["mic", "cam"],
        true,
    )
    .await;
    let mut b = Client::join(&server, &code, None, "2468", "Ben", &["mic", "cam"], true).await;
    let room = b.until("room").await;
    assert_eq!(room["media"]["mode"], "p2p", "{room}");
    assert_eq!(room["media"]["peer"], a.id.as_str());
    let mode = a.until("media_mode").await;
    assert_eq!(
        (mode["mode"].as_str(), mode["offerer"].as_bool()),
        (Some("p2p"), Some(true))
    );

    let (stop, stop_rx) = oneshot::channel();
    let sender = stream(&[&a, &b], stop_rx);
    wait_for("media end to end", || {
        b.received(&a, "microphone") >= 25 && a.received(&b, "camera") >= 15
    })
    .await;
    assert_eq!(
        metric(&server, "received").await,
        0,
        "end to end: the server carries no media"
    );

    // A third joins: both move to the server without ending the call.
    let mut c = Client::join(&server, &code, None, "2468", "Cy", &["mic", "cam"], true).await;
    let room = c.until("room").await;
    assert_eq!(room["media"]["mode"], "sfu");
    for x in [&mut a, &mut b] {
        let m = x.until("media_mode").await;
        assert_eq!(m["mode"], "sfu", "{m}");
    }
    let sender2 = {
        let (stop2, rx2) = oneshot::channel::<()>();
        let h = stream(&[&c], rx2);
        (stop2, h)
    };
    for (rx, tx) in [(&c, &a), (&c, &b), (&a, &c), (&b, &a)] {
        let before = rx.received(tx, "microphone");
        wait_for("media through the server", || {
            rx.received(tx, "microphone") >= before + 25
        })
        .await;
    }
    assert!(metric(&server, "forwarded").await > 0);
    let _ = stop.send(());
    let _ = sender.await;
    let _ = sender2.0.send(());
    let _ = sender2.1.await;
}

#[actix_web::test]
async fn a_hidden_tile_is_sent_no_video_and_shown_again_numbers_on_without_a_gap() {
    let server = media_server_with(false).await;
    let (m, b, c) = three(&server, [&["mic", "cam"]; 3]).await;
    let (stop, stop_rx) = oneshot::channel();
    let sender = stream(&[&m, &b, &c], stop_rx);
    for rx in [&b, &m] {
        wait_for("media flows", || {
            rx.received(&c, "microphone") >= 25 && rx.received(&c, "camera") >= 15
        })
        .await;
    }
    let watch = |participant: &str, source: &str, visible: bool| json!({"type": "media_watch", "participant": participant, "source": source, "visible": visible});

    // Bea hides Cal's camera: nothing more of it reaches her, while his
    // audio does, and the moderator, who still shows it, gets it all.
    b.ok(watch(&c.id, "camera", false)).await;
    let [cam, mic, theirs] = over(
        1000,
        [
            &|| b.received(&c, "camera"),
            &|| b.received(&c, "microphone"),
            &|| m.received(&c, "camera"),
        ],
    )
    .await;
    assert!(
        cam.1 - cam.0 <= 2,
        "a hidden tile still gets video: {cam:?}"
    );
    assert!(mic.1 - mic.0 >= 25, "audio is always sent: {mic:?}");
    assert!(theirs.1 - theirs.0 >= 15, "others still get it: {theirs:?}");
    // /metrics counts the room's six video subscriptions every 2 s: one
    // hidden, the five others of one stream each.
    let subscriptions = |layer: &'static str| {
        let server = &server;
        async move {
            gauge(
                server,
                &format!("conclave_media_subscriptions{{layer=\"{layer}\"}}"),
            )
            .await
        }
    };
    common::eventually(5, "the hidden subscription is counted", || async {
        (subscriptions("hidden").await == 1 && subscriptions("single").await == 5).then_some(())
    })
    .await;
    let sized = |height: i64| json!({"type": "media_watch", "participant": &c.id, "source": "camera", "visible": true, "height": height});
    for (bad, code) in [
        (watch(&c.id, "microphone", false), "invalid_target"),
        (sized(0), "bad_request"),
        (sized(8193), "bad_request"),
        (sized(-1), "bad_request"),
        (
            watch(&uuid::Uuid::new_v4().to_string(), "camera", false),
            "unknown_participant",
        ),
    ] {
        assert_eq!(b.ask(bad).await["code"], code);
    }

    // Shown again: it flows, numbered on from where it stopped.
    b.ok(watch(&c.id, "camera", true)).await;
    let [cam] = over(1000, [&|| b.received(&c, "camera")]).await;
    assert!(cam.1 - cam.0 >= 15, "shown again, video flows: {cam:?}");
    let _ = stop.send(());
    let _ = sender.await;

    // The hidden stretch is where Bea's timestamps jump; the moderator got
    // packets in it. Bea's first packet after it is numbered one past her
    // last before it (no gap: a gap reads as loss), and every packet after
    // it reaches her numbered the same distance from the moderator's; no
    // renumbering of what came before.
    let (hers, mut his) = (b.stamped(&c, "camera"), m.stamped(&c, "camera"));
    // A copy sent again on a NACK is the same packet twice.
    let mut seen = std::collections::HashSet::new();
    his.retain(|(_, s)| seen.insert(*s));
    let jump = hers
        .windows(2)
        .position(|w| w[1].0.wrapping_sub(w[0].0) > 90_000 / 2)
        .expect("the hidden stretch");
    let (before, after) = (hers[jump], hers[jump + 1]);
    let at = |ts: u32| his.iter().find(|(t, _)| *t == ts).map(|(_, s)| *s);
    let hidden = his
        .iter()
        .filter(|(t, _)| {
            t.wrapping_sub(before.0) as i32 > 0 && (after.0.wrapping_sub(*t) as i32) > 0
        })
        .count();
    assert!(hidden >= 15, "{hidden} packets while hidden");
    assert_eq!(
        after.1.wrapping_sub(before.1),
        1,
        "her numbers run on from her last"
    );
    let offset = at(after.0).unwrap().wrapping_sub(after.1);
    for (ts, seq) in &hers[jump + 1..] {
        if let Some(his_seq) = at(*ts) {
            assert_eq!(his_seq.wrapping_sub(*seq), offset, "at timestamp {ts}");
        }
    }
    for (ts, seq) in &hers[..=jump] {
        if let Some(his_seq) = at(*ts) {
            assert_eq!(his_seq, *seq, "before hiding, at timestamp {ts}");
        }
    }
}
