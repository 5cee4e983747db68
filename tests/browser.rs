//! The web client (`web/`) in a real browser: Debian's Chromium, headless,
//! with its fake camera and microphone, driven over the DevTools protocol.
//! Pages join through the join form, as a person would; what they receive
//! is read from the browser's own WebRTC statistics.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_codec::Framed;
use awc::ws::{Codec, Frame, Message};
use common::{line_with_security, Backend, TestServer, Ws};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

/// A headless Chromium, closed when dropped.
struct Browser {
    child: Child,
    /// `127.0.0.1:port` of its DevTools endpoint.
    devtools: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn launch() -> Self {
        let binary = std::env::var("CONCLAVE_CHROMIUM").unwrap_or_else(|_| "chromium".to_owned());
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(&binary)
            .args([
                "--headless=new",
                // Tests run as root in CI, where Chromium's sandbox will not start.
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--mute-audio",
                // Room for every tile: one out of sight is sent no video
                // (media_watch), and these pages must decode them all.
                "--window-size=1280,1024",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                "--allow-loopback-in-peer-connection",
                "--remote-debugging-port=0",
                "about:blank",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{binary} does not start ({e}): scripts/test installs it"));
        // It names its endpoint on stderr.
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let devtools = loop {
            let line = lines
                .next()
                .expect("Chromium names its DevTools endpoint")
                .unwrap();
            if let Some(rest) = line.split("ws://").nth(1) {
                break rest.split('/').next().unwrap().to_owned();
            }
        };
        // Keep draining stderr so Chromium never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            devtools,
            _profile: profile,
        }
    }

    /// A new tab at `url`.
    async fn open(&self, url: &str) -> Page {
        let list: Value = awc::Client::new()
            .put(format!("http://{}/json/new?{url}", self.devtools))
            .send()
            .await
            .expect("DevTools answers")
            .json()
            .await
            .unwrap();
        let ws = list["webSocketDebuggerUrl"].as_str().unwrap().to_owned();
        let (_, framed) = awc::Client::new()
            .ws(ws)
            .max_frame_size(1 << 20)
            .connect()
            .await
            .expect("the tab's DevTools socket opens");
        Page { framed, next: 0 }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One tab.
struct Page {
    framed: Framed<awc::BoxedSocket, Codec>,
    next: u64,
}

impl Page {
    /// Evaluates `expression` (awaiting a promise) and answers its value.
    async fn eval(&mut self, expression: &str) -> Value {
        self.next += 1;
        let id = self.next;
        let call = json!({"id": id, "method": "Runtime.evaluate", "params": {
            "expression": expression, "awaitPromise": true, "returnByValue": true}});
        self.framed
            .send(Message::Text(call.to_string().into()))
            .await
            .unwrap();
        loop {
            let frame = self.framed.next().await.expect("the tab answers").unwrap();
            let Frame::Text(bytes) = frame else { continue };
            let answer: Value = serde_json::from_slice(&bytes).unwrap();
            if answer["id"] == id {
                assert!(
                    answer["result"]["exceptionDetails"].is_null(),
                    "{expression}: {answer}"
                );
                return answer["result"]["result"]["value"].clone();
            }
        }
    }

    async fn wait_for(&mut self, expression: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.eval(expression).await == json!(true) {
                return;
            }
            assert!(Instant::now() < deadline, "never true: {expression}");
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Fills the join form and joins, as a person would.
    async fn join(&mut self, code: &str, name: &str) {
        // A new tab is about:blank, complete, until the page's navigation
        // commits: wait for the page itself and its script.
        self.wait_for("document.readyState === 'complete' && window.conclave !== undefined")
            .await;
        let shown = "id => getComputedStyle(document.getElementById(id)).display !== 'none'";
        assert_eq!(
            self.eval(&format!("[({shown})('join'), ({shown})('room')]"))
                .await,
            json!([true, false]),
            "before joining, only the form shows"
        );
        self.submit(code, name).await;
        self.wait_for(&format!("({shown})('room') && !({shown})('join')"))
            .await;
    }

    /// Fills the join form and presses Join.
    async fn submit(&mut self, code: &str, name: &str) {
        self.eval(&format!(
            "document.getElementById('access_code').value = '{code}';
             document.getElementById('security_code').value = '2468';
             document.getElementById('name').value = '{name}';
             document.getElementById('join_button').click(); true"
        ))
        .await;
    }

    /// Joins through the form and expects the refusal `code`.
    async fn refused(&mut self, code: &str, name: &str, refusal: &str) {
        self.wait_for("document.readyState === 'complete' && window.conclave !== undefined")
            .await;
        self.submit(code, name).await;
        self.wait_for(&format!(
            "document.getElementById('join_error').textContent.endsWith('({refusal})')"
        ))
        .await;
    }

    async fn stats(&mut self) -> Value {
        self.eval("window.conclave.stats()").await
    }

    /// Waits until this page decodes video and plays audio from `from`
    /// publishers on connection `pc`: at least `frames` video frames and
    /// `packets` audio packets from each.
    async fn receives(&mut self, pc: &str, from: usize, frames: u64, packets: u64) -> Value {
        self.receives_beyond(pc, &[], from, frames, packets).await
    }

    /// The SSRCs this page receives on `pc`.
    async fn ssrcs(&mut self, pc: &str) -> Vec<Value> {
        let stats = self.stats().await;
        stats["inbound"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["pc"] == pc)
            .map(|r| r["ssrc"].clone())
            .collect()
    }

    /// As [`Page::receives`], counting only streams whose SSRC is not in
    /// `old`.
    async fn receives_beyond(
        &mut self,
        pc: &str,
        old: &[Value],
        from: usize,
        frames: u64,
        packets: u64,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let stats = self.stats().await;
            let of = |kind: &str, field: &str, least: u64| {
                stats["inbound"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|r| r["pc"] == pc && r["kind"] == kind)
                    .filter(|r| !old.contains(&r["ssrc"]))
                    .filter(|r| r[field].as_u64().unwrap_or(0) >= least)
                    .count()
            };
            // Audio played, not only received: samples out of the jitter
            // buffer that are not concealment, half the packets' worth.
            let played = of("audio", "played", packets * 480);
            if of("video", "frames", frames) >= from
                && of("audio", "packets", packets) >= from
                && played >= from
            {
                return stats;
            }
            if Instant::now() >= deadline {
                // What the page's connections are doing, to say why.
                let pcs = self
                    .eval("JSON.stringify(window.conclave.connections())")
                    .await;
                panic!("{pc}: not {from} publishers' media: {stats}, connections {pcs}");
            }
            actix_web::rt::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

async fn server() -> TestServer {
    server_with(true).await
}

async fn server_with(peer_to_peer: bool) -> TestServer {
    TestServer::start_with(
        Backend::Sqlite,
        move |c| {
            c.media.bind_ip = std::net::IpAddr::from([127, 0, 0, 1]);
            c.media.port_min = 48000;
            c.media.port_max = 48999;
            c.media.peer_to_peer = peer_to_peer;
        },
        Arc::new(conclave::clock::SystemClock),
    )
    .await
}

#[actix_web::test]
async fn the_page_is_served_with_a_strict_policy() {
    let server = server().await;
    let mut res = awc::Client::new()
        .get(server.url("/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let policy = res
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    let body = res.body().await.unwrap();
    assert!(std::str::from_utf8(&body).unwrap().contains("/app/main.js"));
    for (path, kind) in [
        ("/app/main.js", "text/javascript"),
        ("/vendor/preact.module.js", "text/javascript"),
        ("/room.css", "text/css"),
    ] {
        let res = awc::Client::new()
            .get(server.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let content_type = res.headers().get("content-type").unwrap().to_str().unwrap();
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
    }
}

/// The server's count of media packets it received.
async fn packets_received(server: &TestServer) -> u64 {
    let body = awc::Client::new()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .body()
        .await
        .unwrap();
    String::from_utf8_lossy(&body)
        .lines()
        .find_map(|l| l.strip_prefix("conclave_media_packets{outcome=\"received\"} "))
        .map_or(0, |v| v.trim().parse().unwrap())
}

#[actix_web::test]
async fn browsers_talk_end_to_end_then_through_the_server_and_back_as_people_come_and_go() {
    come_and_go(false).await;
}

/// As above, with the second joining once the first's media reaches the
/// server: the second was offered the first's tracks on a connection the
/// move to peer to peer made moot, and used to get no media from the
/// server ever after.
#[actix_web::test]
async fn the_second_joins_once_the_firsts_media_reaches_the_server() {
    come_and_go(true).await;
}

/// Tests that run several pages with camera and microphone take turns:
/// two at once on two cores starve each other's fake devices and encoders.
static MEDIA_PAGES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn come_and_go(first_media_up: bool) {
    let _turn = MEDIA_PAGES.lock().await;
    let server = server().await;
    let (code, _) = line_with_security(&server).await;
    let browser = Browser::launch();
    let mut ada = browser.open(&server.url("/")).await;
    let mut bob = browser.open(&server.url("/")).await;
    ada.join(&code, "Ada").await;
    if first_media_up {
        let deadline = Instant::now() + Duration::from_secs(30);
        while packets_received(&server).await < 50 {
            assert!(Instant::now() < deadline, "Ada's media reaches the server");
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }
    bob.join(&code, "Bob").await;

    // Two: peer to peer, and the page says so.
    for page in [&mut ada, &mut bob] {
        page.receives("peer", 1, 20, 50).await;
        assert_eq!(
            page.eval("document.getElementById('mode').textContent")
                .await,
            "End-to-end encrypted"
        );
    }

    // A third: everyone through the server, both others' media decoded,
    // and the direct call closed once the server carries media.
    let mut cy = browser.open(&server.url("/")).await;
    cy.join(&code, "Cy").await;
    for page in [&mut ada, &mut bob, &mut cy] {
        let stats = page.receives("subscribe", 2, 20, 50).await;
        assert_eq!(stats["mode"], "sfu", "{stats}");
        page.wait_for("window.conclave.stats().then(s => s.inbound.every(r => r.pc !== 'peer'))")
            .await;
        assert_eq!(
            page.eval("document.getElementById('mode').textContent")
                .await,
            "Encrypted to the server"
        );
        assert_eq!(
            page.eval("document.querySelectorAll('#participants li').length")
                .await,
            3
        );
    }

    // Cy leaves: Ada and Bob are two again, end to end. Dee joins:
    // through the server again, and Ada and Bob decode Dee's media.
    let old = [ada.ssrcs("subscribe").await, bob.ssrcs("subscribe").await];
    cy.eval("document.getElementById('leave').click(); true")
        .await;
    for page in [&mut ada, &mut bob] {
        page.wait_for("document.getElementById('mode').textContent === 'End-to-end encrypted'")
            .await;
    }
    let mut dee = browser.open(&server.url("/")).await;
    dee.join(&code, "Dee").await;
    dee.receives("subscribe", 2, 20, 50).await;
    for (page, old) in [(&mut ada, &old[0]), (&mut bob, &old[1])] {
        page.receives_beyond("subscribe", old, 1, 20, 50).await;
    }
}

#[actix_web::test]
async fn a_track_that_arrives_takes_the_place_of_one_that_left() {
    let _turn = MEDIA_PAGES.lock().await;
    let server = server_with(false).await;
    let (code, _) = line_with_security(&server).await;
    let browser = Browser::launch();
    let mut ada = browser.open(&server.url("/")).await;
    let mut bob = browser.open(&server.url("/")).await;
    let mut cy = browser.open(&server.url("/")).await;
    for (page, name) in [(&mut ada, "Ada"), (&mut bob, "Bob"), (&mut cy, "Cy")] {
        page.join(&code, name).await;
    }
    for page in [&mut ada, &mut bob] {
        page.receives("subscribe", 2, 20, 50).await;
    }
    // Cy leaves, Dee joins: Ada and Bob decode Dee's media on the
    // sections Cy's tracks left: two tracks from each of two others and
    // the server's probe section (docs/media.md, Bandwidth), five
    // transceivers, not seven.
    let old = [ada.ssrcs("subscribe").await, bob.ssrcs("subscribe").await];
    cy.eval("document.getElementById('leave').click(); true")
        .await;
    let mut dee = browser.open(&server.url("/")).await;
    dee.join(&code, "Dee").await;
    for (page, old) in [(&mut ada, &old[0]), (&mut bob, &old[1])] {
        page.receives_beyond("subscribe", old, 1, 20, 50).await;
        assert_eq!(
            page.eval("window.conclave.transceivers('subscribe')").await,
            5
        );
    }
}

/// A blocked guest stays out: the device cookie the server gave the page
/// (which the page cannot read) comes back after a reload and from a new
/// tab of the same browser, and the block matches it.
#[actix_web::test]
async fn a_blocked_guest_stays_out_after_a_reload_and_in_a_new_tab() {
    let server = server().await;
    let (code, pin) = line_with_security(&server).await;
    let mut chair = Ws::connect(&server).await;
    chair.join(&code, Some("2468"), Some(&pin), "Chair").await;
    let browser = Browser::launch();
    let mut guest = browser.open(&server.url("/")).await;
    guest.join(&code, "Guest").await;
    assert_eq!(guest.eval("document.cookie").await, "", "HttpOnly");
    let arrived = chair.until("participant_joined").await;
    let blocked = chair
        .ask(json!({"type": "remove", "participant": arrived["participant"]["id"], "block": true}))
        .await;
    assert_eq!(blocked["type"], "ack", "{blocked}");
    guest
        .wait_for("!document.getElementById('closed').hidden")
        .await;

    // Reload: a new page (the marker is gone), the same device.
    guest
        .eval("window.before_reload = true; setTimeout(() => location.reload(), 50); true")
        .await;
    guest
        .wait_for("window.before_reload === undefined && document.readyState === 'complete'")
        .await;
    guest.refused(&code, "Guest", "blocked").await;
    let mut tab = browser.open(&server.url("/")).await;
    tab.refused(&code, "Someone else", "blocked").await;
}

/// A phone caller (Debian's baresip, a 440 Hz tone as its microphone) in a
/// page's meeting: the page plays the caller's voice (Chromium's own
/// statistics: samples played, and their energy), shows the caller on a
/// phone tile as the speaker and masked in the list, and drops the tile
/// when the caller hangs up.
#[actix_web::test]
async fn a_page_plays_a_phone_callers_voice_on_a_phone_tile() {
    use common::baresip::{free_port, loopback_sip, Baresip};

    let _turn = MEDIA_PAGES.lock().await;
    let sip = free_port();
    let rtp = 31000 + (sip % 100) * 20;
    let server = TestServer::start_with(
        Backend::Sqlite,
        move |c| {
            c.media.bind_ip = std::net::IpAddr::from([127, 0, 0, 1]);
            c.media.port_min = 48000;
            c.media.port_max = 48999;
            c.sip = Some(loopback_sip(sip, rtp, 20));
        },
        Arc::new(conclave::clock::SystemClock),
    )
    .await;
    let (code, _) = line_with_security(&server).await;
    let browser = Browser::launch();
    let mut ada = browser.open(&server.url("/")).await;
    ada.join(&code, "Ada").await;

    let mut phone = Baresip::start_with_tone("+442079460321", None, 440.0).await;
    phone.dial(&format!("sip:conclave@127.0.0.1:{sip}")).await;
    phone.event("CALL_ESTABLISHED", 10).await;
    actix_web::rt::time::sleep(Duration::from_millis(1000)).await;
    phone.keys(&format!("{code}#2468##")).await;

    // Listed as a phone, the number masked for a guest.
    ada.wait_for(
        "[...document.querySelectorAll('#participants li')].some(li =>
           li.textContent.includes('phone +44') && li.textContent.includes('321'))",
    )
    .await;
    assert_eq!(
        ada.eval("document.getElementById('participants').textContent.includes('2079460')")
            .await,
        false,
        "a guest never sees the full number"
    );
    // Its tile says it is a phone, and it becomes the speaker.
    ada.wait_for(
        "[...document.querySelectorAll('#videos figure.phone')].some(f =>
           f.textContent.includes('On the phone') && f.textContent.includes('(speaking)'))",
    )
    .await;
    // The page plays the tone: two seconds of samples (48 kHz), loud.
    ada.wait_for(
        "window.conclave.stats().then(s => s.inbound.some(r =>
           r.pc === 'subscribe' && r.kind === 'audio' && r.played >= 96000 && r.energy > 0.02))",
    )
    .await;

    phone.hang_up().await;
    ada.wait_for("document.querySelectorAll('#videos figure.phone').length === 0")
        .await;
}
