//! Video lost on the way to a subscriber is sent again.

use super::*;

/// What the lossy path saw: the packets it dropped, and the sender
/// reports the server sent each client address.
struct Path {
    dropped: Arc<std::sync::atomic::AtomicU64>,
    sender_reports: Arc<Mutex<HashMap<std::net::SocketAddr, u64>>>,
}

/// A lossy network between clients and the server's media port: it
/// listens where the server announces itself, relays each client's
/// datagrams to the server from a socket of its own, and relays the
/// server's back, dropping every `nth` video RTP packet (the RTP header is
/// not encrypted by SRTP, so its payload type shows; nor is an SRTCP
/// packet's first header, so a sender report shows too).
async fn lossy_path(front: tokio::net::UdpSocket, server: std::net::SocketAddr, nth: u64) -> Path {
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::net::UdpSocket;
    let front = Arc::new(front);
    let dropped = Arc::new(AtomicU64::new(0));
    let reports = Arc::new(Mutex::new(HashMap::new()));
    let video = Arc::new(AtomicU64::new(0));
    let out = Path {
        dropped: dropped.clone(),
        sender_reports: reports.clone(),
    };
    tokio::spawn(async move {
        let mut upstreams: HashMap<std::net::SocketAddr, Arc<UdpSocket>> = HashMap::new();
        let mut buf = vec![0u8; 2048];
        while let Ok((n, client)) = front.recv_from(&mut buf).await {
            let up = match upstreams.get(&client) {
                Some(up) => up.clone(),
                None => {
                    let up = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
                    up.connect(server).await.unwrap();
                    upstreams.insert(client, up.clone());
                    let (up2, front, dropped, video, reports) = (
                        up.clone(),
                        front.clone(),
                        dropped.clone(),
                        video.clone(),
                        reports.clone(),
                    );
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 2048];
                        while let Ok(n) = up2.recv(&mut buf).await {
                            let d = &buf[..n];
                            // RTCP packet type 200: a sender report.
                            if n >= 8 && d[0] >> 6 == 2 && d[1] == 200 {
                                *reports.lock().unwrap().entry(client).or_insert(0) += 1;
                            }
                            let is_video = n >= 12 && d[0] >> 6 == 2 && d[1] & 0x7f == VP8_PT;
                            if is_video && video.fetch_add(1, Ordering::Relaxed) % nth == nth - 1 {
                                dropped.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                            let _ = front.send_to(d, client).await;
                        }
                    });
                    up
                }
            };
            let _ = up.send(&buf[..n]).await;
        }
    });
    out
}

#[actix_web::test]
async fn video_lost_on_the_way_to_a_subscriber_is_sent_again() {
    // The server announces 127.0.0.2, where the lossy path listens; it
    // binds 127.0.0.1 on the same port: one free on both addresses, the
    // path's end held from the start.
    let (front, port) = loop {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        if let Ok(front) = tokio::net::UdpSocket::bind(("127.0.0.2", port)).await {
            break (front, port);
        }
    };
    let server = TestServer::start_with(
        Backend::Sqlite,
        |c| {
            c.media.bind_ip = std::net::IpAddr::from([127, 0, 0, 1]);
            c.media.public_ip = Some(std::net::IpAddr::from([127, 0, 0, 2]));
            c.media.port_min = port;
            c.media.port_max = port;
        },
        Arc::new(conclave::clock::SystemClock),
    )
    .await;
    let path = lossy_path(front, ([127, 0, 0, 1], port).into(), 10).await;
    let (mut m, b, mut c, stop, sender) = camera_to_two(&server).await;
    let reports_before = path.sender_reports.lock().unwrap().clone();
    settle(6000).await;
    assert!(
        path.dropped.load(std::sync::atomic::Ordering::Relaxed) >= 10,
        "the path drops"
    );
    // Each subscriber is sent a sender report a second for the stream it
    // gets (its player's clock for lip sync and round-trip time).
    let reports = path.sender_reports.lock().unwrap().clone();
    let reported = reports
        .iter()
        .filter(|(at, n)| **n >= reports_before.get(at).unwrap_or(&0) + 4)
        .count();
    assert!(
        reported >= 2,
        "both subscribers get sender reports: {reports:?} (before {reports_before:?})"
    );
    for rx in [&b, &c] {
        let counts = rx.counts.lock().unwrap();
        let got = &counts[&(m.id.clone(), "camera".to_owned())];
        // The test sender numbers video n for ticks n % 5 < 3 (30 of 50
        // ticks a second): those are what was forwarded. The last 40
        // numbers (1.3 s) may still be under repair.
        let first = *got.seqs.first().unwrap();
        let last = got.seqs.last().unwrap().wrapping_sub(40);
        let missing: Vec<u16> = (first..=last)
            .filter(|n| n % 5 < 3 && !got.seqs.contains(n))
            .collect();
        let sent = (first..=last).filter(|n| n % 5 < 3).count();
        assert!(sent >= 80, "{sent} packets in the window");
        assert!(
            missing.len() <= 1,
            "{} of {sent} never repaired: {missing:?}",
            missing.len()
        );
    }
    assert!(metric(&server, "resent").await >= 10);

    // The moderator hears how well each subscriber receives: what NACKs
    // repaired is not lost, and the round trip its reports measure. A
    // participant hears nothing of it.
    let mut told = 0;
    let bea = loop {
        told += 1;
        assert!(
            told <= 10,
            "no figures for Bea in 10 connection_quality messages"
        );
        let q = m.until("connection_quality").await;
        let all = q["participants"].as_array().unwrap().clone();
        let of = |who: &Client| {
            all.iter()
                .find(|r| r["participant"] == who.id.as_str())
                .cloned()
        };
        if let (Some(rb), Some(_)) = (of(&b), of(&c)) {
            if rb["receive_loss_percent"].is_f64() && rb["rtt_ms"].is_u64() {
                break rb;
            }
        }
    };
    assert!(
        bea["receive_loss_percent"].as_f64().unwrap() < 3.0,
        "repaired: {bea}"
    );
    assert_eq!(bea["quality"], "good", "{bea}");
    assert!(bea["rtt_ms"].as_u64().unwrap() < 300, "loopback: {bea}");
    // /metrics counts the reports by the loss and round trip they tell.
    let mut reports = 0;
    for band in ["under_3pct", "under_10pct", "over_10pct"] {
        reports += quality(&server, &format!("reports_loss_{band}")).await;
    }
    assert!(reports >= 4, "{reports} reports on /metrics");
    assert!(quality(&server, "reports_rtt_under_300ms").await > 0);
    let heard = tokio::time::timeout(Duration::from_secs(5), c.until("connection_quality")).await;
    assert!(
        heard.is_err(),
        "a participant is told nothing of others' networks"
    );

    // A subscriber that asks for everything again, as fast as a round
    // trip lets it, is held to its budget and keeps its connection.
    let camera = b.remote(&m, "camera");
    let last = b.last_seq(&m, "camera");
    let refused = metric(&server, "resend_refused").await;
    let round_trip = bea["rtt_ms"].as_u64().unwrap() + 5;
    for _ in 0..20 {
        // 16 pairs of 17 each: the whole history, 272 packets a NACK.
        nack_recent(&camera, last, 16, 1).await;
        settle(round_trip).await;
    }
    settle(500).await;
    assert!(
        metric(&server, "resend_refused").await > refused,
        "a flood of NACKs meets the budget"
    );
    let before = b.received(&m, "camera");
    settle(1000).await;
    assert!(
        b.received(&m, "camera") > before + 10,
        "the flooding subscriber still receives"
    );
    let _ = stop.send(());
    let _ = sender.await;

    // The same losses asked for twice at once go again once: a copy goes
    // at most once per round trip. (The stream stopped, and the budget
    // refilled, nothing else is sent again meanwhile.)
    settle(1000).await;
    let count = || async {
        let mut out = Vec::new();
        for series in ["resent", "resend_early", "resend_refused"] {
            out.push(metric(&server, series).await);
        }
        out
    };
    let before = count().await;
    let last = b.last_seq(&m, "camera");
    // The test's publisher leaves out every fourth and fifth number.
    let copies = (0..17u16).filter(|&k| last.wrapping_sub(k) % 5 < 3).count() as u64;
    nack_recent(&camera, last, 1, 2).await;
    settle(300).await;
    let after = count().await;
    assert_eq!(
        after,
        vec![before[0] + copies, before[1] + copies, before[2]],
        "the {copies} copies went again once each (resent, early, refused; before: {before:?})"
    );
}
