//! Keyframe requests and the announced address.

use super::*;

#[actix_web::test]
async fn a_subscribers_keyframe_requests_reach_the_publisher_throttled() {
    let server = media_server().await;
    let (m, b, _c, stop, sender) = camera_to_two(&server).await;
    // New subscriptions ask for keyframes themselves; let that settle.
    settle(1500).await;
    let plis = || m.plis.load(std::sync::atomic::Ordering::Relaxed);
    let camera = b.remote(&m, "camera");
    let ssrc = camera.ssrcs().await[0];
    let pli = || -> Vec<Box<dyn rtc::rtcp::Packet>> {
        vec![Box::new(
            rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication {
                sender_ssrc: 1,
                media_ssrc: ssrc,
            },
        )]
    };
    // One request every 600 ms: each reaches the publisher.
    let before = plis();
    for _ in 0..3 {
        camera.write_rtcp(pli()).await.unwrap();
        settle(600).await;
    }
    let relayed = plis() - before;
    assert!(relayed >= 3, "{relayed} of 3 spaced requests relayed");
    // A burst of ten within 100 ms: merged into one or two.
    settle(600).await;
    let before = plis();
    for _ in 0..10 {
        camera.write_rtcp(pli()).await.unwrap();
        settle(10).await;
    }
    settle(400).await;
    let burst = plis() - before;
    assert!((1..=2).contains(&burst), "a burst of 10 became {burst}");
    let _ = stop.send(());
    let _ = sender.await;
}

#[actix_web::test]
async fn a_keyframe_request_the_publisher_let_pass_is_made_again() {
    let server = media_server().await;
    let (m, b, _c, stop, sender) = camera_to_two(&server).await;
    settle(1500).await;
    let plis = || m.plis.load(std::sync::atomic::Ordering::Relaxed);
    let watch = |visible: bool| json!({"type": "media_watch", "participant": &m.id, "source": "camera", "visible": visible});
    // From now the publisher sends a keyframe only when asked, and lets
    // the next request pass, as if it were lost on the way.
    m.keyframes.on_request(1);
    b.ok(watch(false)).await;
    settle(500).await;
    let (before, asked) = (b.received(&m, "camera"), plis());
    b.ok(watch(true)).await;
    // Shown again, Bea waits for a keyframe; the server asks again as
    // packets come without one.
    wait_for("video flows again", || {
        b.received(&m, "camera") >= before + 10
    })
    .await;
    let asked = plis() - asked;
    assert!(asked >= 2, "{asked} keyframe requests");
    let _ = stop.send(());
    let _ = sender.await;
}

#[actix_web::test]
async fn the_server_announces_its_public_address_on_a_port_of_its_range() {
    let server = TestServer::start_with(
        Backend::Sqlite,
        |c| {
            c.media.bind_ip = std::net::IpAddr::from([127, 0, 0, 1]);
            c.media.public_ip = Some(std::net::IpAddr::from([203, 0, 113, 7]));
            c.media.port_min = 48100;
            c.media.port_max = 48199;
        },
        Arc::new(conclave::clock::SystemClock),
    )
    .await;
    let (code, pin) = line_with_security(&server).await;
    let mut ws = Ws::connect(&server).await;
    let joined = ws.join(&code, Some("2468"), Some(&pin), "Ann").await;
    assert_eq!(joined["type"], "joined");
    // A real offer, from a client connection with one audio track.
    let (out, _rx) = mpsc::unbounded_channel();
    let pc = new_pc(Arc::new(Candidates { pc: "publish", out })).await;
    pc.add_track(local_track(RtpCodecKind::Audio, "mic", 42) as Arc<dyn TrackLocal>)
        .await
        .unwrap();
    let offer = pc.create_offer(None).await.unwrap();
    let sdp = offer.sdp.clone();
    pc.set_local_description(offer).await.unwrap();
    let ack = ws
        .ask(json!({"type": "media_offer", "pc": "publish", "sdp": sdp, "tracks": {"mic": "microphone"}}))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    // The server's candidates, in its answer or trickled after it.
    let mut seen = String::new();
    while !seen.contains("typ host") {
        let m = ws.next().await.expect("the socket stays open");
        match m["type"].as_str() {
            Some("media_answer") => seen.push_str(m["sdp"].as_str().unwrap()),
            Some("media_candidate") => seen.push_str(m["candidate"]["candidate"].as_str().unwrap()),
            _ => {}
        }
    }
    assert!(seen.contains("203.0.113.7"), "the public address: {seen}");
    assert!(!seen.contains("127.0.0.1"), "not the private one: {seen}");
    let port: u16 = seen
        .split("203.0.113.7 ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .expect("a port after the address");
    assert!(
        (48100..=48199).contains(&port),
        "port {port} outside the range"
    );
    let _ = pc.close().await;
}
