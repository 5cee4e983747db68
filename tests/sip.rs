//! The SIP edge with a real SIP client no one here wrote (Debian's
//! baresip, tests/common/baresip.rs): a caller dials in, hears the prompt,
//! types the codes as RFC 4733 events and is seated; web participants see
//! the masked number and moderators the full one; `*5` is for moderators;
//! removal and block send a BYE and the number is refused after the prompt
//! when it calls again; the caller's hang-up is attendance; addresses
//! outside the allow-list and wrong digest credentials are refused; SIP
//! over TCP works as over UDP, and a server shutdown hangs callers up; and
//! a log at TRACE of the whole flow holds no number and no code. A caller
//! of our own (tests/common/sip_uac.rs) does what baresip will not: keys
//! as SIP INFO, a re-INVITE to another port, silence until it is dropped,
//! and a flood of INVITEs that changes nothing for the call already in.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::baresip::{free_port, prompt_match, rms, Baresip};
use common::sip_uac::{self, dial, keys};
use common::{line_with_security, Backend, TestServer, Ws};
use conclave::sip::trunks::{TrunkConfig, TrunkPassword};
use conclave::sip::SipConfig;
use serde_json::json;

on_both_stores!(actix:
    a_caller_is_seated_heard_masked_and_leaves_as_attendance,
    removal_and_block_send_a_bye_and_the_number_is_refused_after_the_prompt,
);

const NUMBER: &str = "+441234567123";
const MODERATOR_NUMBER: &str = "+12025550143";
/// Long enough that no stray digits in a log line match it by chance.
const SECURITY: &str = "86420975";

/// Every log line of this test binary, at TRACE.
fn captured_log() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            // Timestamps hold digits that could look like a code.
            .without_time()
            .with_writer(move || Sink(writer.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        log
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn trunk(addresses: &[&str], password: Option<&str>) -> TrunkConfig {
    TrunkConfig {
        name: "test-trunk".into(),
        addresses: addresses.iter().map(|s| s.to_string()).collect(),
        username: password.map(|_| "pbx".into()),
        password: password.map(TrunkPassword::new),
        trusted_identity: false,
    }
}

async fn server(b: Backend, trunks: Vec<TrunkConfig>) -> (TestServer, u16) {
    captured_log();
    let port = free_port();
    let rtp = 20000 + (port % 200) * 100;
    let s = TestServer::start_with(
        b,
        move |c| {
            c.sip = Some(SipConfig {
                listen: ([127, 0, 0, 1], port).into(),
                rtp_port_min: rtp,
                rtp_port_max: rtp + 99,
                rtp_timeout_secs: 10,
                trunks,
                ..SipConfig::default()
            });
        },
        Arc::new(conclave::clock::SystemClock),
    )
    .await;
    (s, port)
}

fn uri(port: u16) -> String {
    format!("sip:conclave@127.0.0.1:{port}")
}

/// Dials, waits for the answer and types the codes; `pin` is `None` to
/// join as a participant.
async fn dial_in(phone: &mut Baresip, port: u16, code: &str, security: &str, pin: Option<&str>) {
    phone.dial(&uri(port)).await;
    phone.event("CALL_ESTABLISHED", 10).await;
    // Some of the prompt is heard, then the caller types over it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    phone
        .keys(&format!("{code}#{security}#{}#", pin.unwrap_or("")))
        .await;
}

async fn a_caller_is_seated_heard_masked_and_leaves_as_attendance(b: Backend) {
    let (s, port) = server(b, vec![trunk(&["127.0.0.0/8"], None)]).await;
    let (token, body) = s.sign_up().await;
    let (status, _) = s
        .call(
            "PUT",
            "/api/v1/account/default-security-code",
            Some(json!({"security_code": SECURITY})),
            Some(&token),
        )
        .await;
    assert_eq!(status, 204);
    let code = body["line"]["access_code"].as_str().unwrap().to_owned();
    let pin = body["moderator_pin"].as_str().unwrap().to_owned();
    let conference = body["line"]["id"].as_str().unwrap().to_owned();
    let mut chair = Ws::connect(&s).await;
    chair.join(&code, Some(SECURITY), Some(&pin), "Chair").await;
    let mut guest = Ws::connect(&s).await;
    guest.join(&code, Some(SECURITY), None, "Guest").await;

    let mut phone = Baresip::start(NUMBER, None).await;
    dial_in(&mut phone, port, &code, SECURITY, None).await;
    let seen = guest.until("participant_joined").await;
    let caller = &seen["participant"];
    assert_eq!(
        (caller["phone"].as_bool(), caller["number"].as_str()),
        (Some(true), Some("+44•••••••123")),
        "{caller}"
    );
    let seen = loop {
        let m = chair.until("participant_joined").await;
        if m["participant"]["phone"] == true {
            break m;
        }
    };
    assert_eq!(
        seen["participant"]["number"], NUMBER,
        "moderators see it in full"
    );

    // A participant's *5 is refused; a moderator caller's locks. (The
    // caller hears "joined" out first: a key cuts a prompt short.)
    tokio::time::sleep(Duration::from_millis(2500)).await;
    phone.keys("*5").await;
    let mut boss = Baresip::start(MODERATOR_NUMBER, None).await;
    dial_in(&mut boss, port, &code, SECURITY, Some(&pin)).await;
    let boss_seen = guest.until("participant_joined").await;
    assert_eq!(boss_seen["participant"]["role"], "moderator", "{boss_seen}");
    boss.keys("*5").await;
    assert_eq!(guest.until("locked").await["type"], "locked");
    // Heard out before the next key, which would cut it short.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    boss.keys("*5").await;
    assert_eq!(guest.until("unlocked").await["type"], "unlocked");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    boss.hang_up().await;
    boss.event("CALL_CLOSED", 5).await;
    guest.until("participant_left").await;
    let boss_heard = boss.heard();
    for prompt in ["locked", "unlocked"] {
        let m = prompt_match(&boss_heard, prompt);
        assert!(
            m > 0.9,
            "the moderator caller heard {prompt:?} (match {m:.2})"
        );
    }
    assert!(
        prompt_match(&boss_heard, "not_allowed") < 0.8,
        "and not a refusal"
    );

    // The caller hangs up: `left`, and attendance has the interval.
    tokio::time::sleep(Duration::from_secs(1)).await;
    phone.hang_up().await;
    phone.event("CALL_CLOSED", 5).await;
    let left = guest.until("participant_left").await;
    assert_eq!(left["participant"], caller["id"]);
    assert_eq!(left["reason"], "left", "{left}");
    let heard = phone.heard();
    // 8 kHz: the first second is the access-code prompt.
    let prompt = rms(&heard[..heard.len().min(8_000)]);
    assert!(
        prompt > 500.0,
        "the caller heard the prompt (rms {prompt:.0})"
    );
    let m = prompt_match(&heard, "not_allowed");
    assert!(
        m > 0.9,
        "the participant caller's *5 was refused aloud (match {m:.2})"
    );
    let m = prompt_match(&heard, "joined");
    assert!(m > 0.9, "and it heard it was in (match {m:.2})");
    drop(chair);
    drop(guest);
    let attendance = common::eventually(10, "the caller's attendance", || {
        let (s, token, conference) = (&s, token.clone(), conference.clone());
        async move {
            let (status, sessions) = s
                .call(
                    "GET",
                    &format!("/api/v1/conferences/{conference}/sessions"),
                    None,
                    Some(&token),
                )
                .await;
            assert_eq!(status, 200, "{sessions}");
            let rows = sessions[0]["attendance"].as_array()?.clone();
            rows.iter()
                .find(|r| {
                    r["endpoint"] == "phone"
                        && r["phone_number"] == NUMBER
                        && !r["left_at"].is_null()
                })
                .cloned()
        }
    })
    .await;
    assert_eq!(attendance["left_reason"], "left", "{attendance}");
    let at =
        |k: &str| chrono::DateTime::parse_from_rfc3339(attendance[k].as_str().unwrap()).unwrap();
    assert!(
        at("left_at") - at("joined_at") >= chrono::Duration::seconds(2),
        "the interval the caller was in: {attendance}"
    );

    // Nothing in the log at TRACE names the number or a code typed.
    let log = String::from_utf8_lossy(&captured_log().lock().unwrap()).into_owned();
    assert!(log.contains("SIP call offered"), "the log was captured");
    for secret in [NUMBER, MODERATOR_NUMBER, &code, &pin, SECURITY] {
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(secret)).take(3).collect();
        assert!(lines.is_empty(), "the log holds {secret:?}: {lines:#?}");
    }
}

async fn removal_and_block_send_a_bye_and_the_number_is_refused_after_the_prompt(b: Backend) {
    let (s, port) = server(b, vec![trunk(&["127.0.0.0/8"], None)]).await;
    let (code, pin) = line_with_security(&s).await;
    let mut chair = Ws::connect(&s).await;
    chair.join(&code, Some("2468"), Some(&pin), "Chair").await;

    let mut phone = Baresip::start(NUMBER, None).await;
    dial_in(&mut phone, port, &code, "2468", None).await;
    let seen = chair.until("participant_joined").await;
    let caller = seen["participant"]["id"].clone();
    let joined_at = std::time::Instant::now();
    let removed = chair
        .ask(json!({"type": "remove", "participant": caller, "block": true}))
        .await;
    assert_eq!(removed["type"], "ack", "{removed}");
    let closed = phone.event("CALL_CLOSED", 5).await;
    assert!(
        joined_at.elapsed() < Duration::from_secs(2),
        "BYE at once: {closed}"
    );

    // Calling again from that number: the codes, then `blocked`, then BYE.
    phone.dial(&uri(port)).await;
    phone.event("CALL_ESTABLISHED", 10).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    phone.keys(&format!("{code}#2468##")).await;
    phone.event("CALL_CLOSED", 20).await;
    let heard = phone.heard();
    let last_seconds = &heard[heard.len().saturating_sub(3 * 8000)..];
    assert!(
        rms(last_seconds) > 300.0,
        "the refusal was played before the BYE"
    );
    tokio::time::timeout(
        Duration::from_millis(500),
        chair.until("participant_joined"),
    )
    .await
    .expect_err("the blocked number never got a seat");
}

#[actix_web::test]
async fn a_caller_over_tcp_is_seated_and_a_shutdown_sends_bye() {
    let (mut s, port) = server(Backend::Sqlite, vec![trunk(&["127.0.0.0/8"], None)]).await;
    let (code, pin) = line_with_security(&s).await;
    let mut chair = Ws::connect(&s).await;
    chair.join(&code, Some("2468"), Some(&pin), "Chair").await;
    let mut phone = Baresip::start(NUMBER, None).await;
    phone.dial(&format!("{};transport=tcp", uri(port))).await;
    phone.event("CALL_ESTABLISHED", 10).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    phone.keys(&format!("{code}#2468##")).await;
    let seen = chair.until("participant_joined").await;
    assert_eq!(seen["participant"]["phone"], true, "{seen}");
    s.shut_down().await;
    phone.event("CALL_CLOSED", 5).await;
}

#[actix_web::test]
async fn invites_from_outside_the_allow_list_or_with_wrong_credentials_are_refused() {
    // No trunk admits 127.0.0.1: 403, and no call.
    let (s, port) = server(Backend::Sqlite, vec![trunk(&["192.0.2.0/24"], None)]).await;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = sock.local_addr().unwrap();
    let invite = format!(
        "INVITE sip:conclave@127.0.0.1:{port} SIP/2.0\r\n\
Via: SIP/2.0/UDP {me};branch=z9hG4bKtest1\r\nMax-Forwards: 70\r\n\
From: <sip:{NUMBER}@127.0.0.1>;tag=abc\r\nTo: <sip:conclave@127.0.0.1>\r\n\
Call-ID: outsider@test\r\nCSeq: 1 INVITE\r\nContact: <sip:x@{me}>\r\n\
Content-Type: application/sdp\r\nContent-Length: 0\r\n\r\n"
    );
    sock.send_to(invite.as_bytes(), ("127.0.0.1", port))
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(answer.starts_with("SIP/2.0 403"), "{answer}");
    assert!(
        tokio::time::timeout(Duration::from_millis(700), sock.recv_from(&mut buf))
            .await
            .is_err(),
        "one answer and nothing more"
    );
    let metrics = s.raw("GET", "/metrics", None, None, None).await.1;
    let metrics = metrics.as_str().unwrap_or_default();
    assert!(
        metrics.contains("conclave_sip_invites_total{outcome=\"forbidden\"} 1"),
        "{metrics}"
    );
    drop(s);

    // A trunk with credentials: the right ones get in, wrong ones do not.
    let (_s, port) = server(Backend::Sqlite, vec![trunk(&[], Some("trunk-secret"))]).await;
    let mut wrong = Baresip::start(NUMBER, Some("not-the-secret")).await;
    wrong.dial(&uri(port)).await;
    let closed = wrong.event("CALL_CLOSED", 10).await;
    assert!(closed.to_string().contains("403"), "{closed}");
    let mut right = Baresip::start(NUMBER, Some("trunk-secret")).await;
    right.dial(&uri(port)).await;
    right.event("CALL_ESTABLISHED", 10).await;
    right.hang_up().await;
}

/// A caller of our own making (raw SIP over UDP): INVITE with an offer,
/// ACK, the codes as SIP INFO key presses, and then never a packet of RTP.
/// The INFO keys seat it; the RTP timeout then hangs up with a BYE, and the
/// seat ends as `dropped`, not `left`.
/// A server whose SIP edge takes `max_calls` calls, `invites_per_minute`
/// from one address, and ends a call silent for `rtp_timeout_secs`.
async fn raw_server(
    max_calls: usize,
    invites_per_minute: u32,
    rtp_timeout_secs: u64,
) -> (TestServer, u16) {
    captured_log();
    let port = free_port();
    let rtp = 20000 + (port % 200) * 100;
    let s = TestServer::start_with(
        Backend::Sqlite,
        move |c| {
            c.sip = Some(SipConfig {
                max_calls,
                invites_per_minute,
                rtp_timeout_secs,
                ..common::baresip::loopback_sip(port, rtp, 100)
            });
        },
        Arc::new(conclave::clock::SystemClock),
    )
    .await;
    (s, port)
}

#[actix_web::test]
async fn keys_by_sip_info_seat_a_caller_a_reinvite_moves_its_media_and_silence_drops_it() {
    let (s, port) = raw_server(500, 60, 3).await;
    let (token, code, _pin) = common::owned_line_with_security(&s).await;
    let mut guest = Ws::connect(&s).await;
    let joined = guest.join(&code, Some("2468"), None, "Guest").await;
    let conference = joined["conference"].as_str().unwrap().to_owned();

    // Where our audio would come from: bound, and silent.
    let media = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (mut call, _) = dial(port, NUMBER, &media).await.unwrap();
    keys(&mut call, &format!("{code}#2468##")).await.unwrap();
    let seated = guest.until("participant_joined").await;
    assert_eq!(seated["participant"]["phone"], true, "{seated}");

    // A re-INVITE moves the caller's media to another port: answered with
    // our SDP, and what the server sends follows (it never latched onto
    // this caller's source, which sent nothing).
    let mut frame = [0u8; 1500];
    tokio::time::timeout(Duration::from_secs(2), media.recv_from(&mut frame))
        .await
        .expect("RTP to the offered port")
        .unwrap();
    let moved = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let offer = sip_uac::offer(moved.local_addr().unwrap().port(), 2);
    let ok = call
        .transact("INVITE", "Content-Type: application/sdp\r\n", &offer)
        .await
        .unwrap();
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    assert!(
        sip_uac::sdp_audio(&ok).is_some(),
        "the answer to a re-INVITE has SDP: {ok}"
    );
    call.ack().await.unwrap();
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), moved.recv_from(&mut frame))
        .await
        .expect("RTP follows the re-INVITE to the new port")
        .unwrap();
    assert!(n >= 12 && frame[0] >> 6 == 2, "an RTP packet");

    // Nothing ever came: hung up with a BYE, and the seat was dropped.
    let bye = call.answer_next_request(10).await.unwrap();
    assert!(bye.starts_with("BYE "), "{bye}");
    let row = common::eventually(45, "the dropped caller's attendance", || {
        let (s, token, conference) = (&s, token.clone(), conference.clone());
        async move {
            let (_, sessions) = s
                .call(
                    "GET",
                    &format!("/api/v1/conferences/{conference}/sessions"),
                    None,
                    Some(&token),
                )
                .await;
            sessions[0]["attendance"]
                .as_array()?
                .iter()
                .find(|r| r["endpoint"] == "phone" && !r["left_at"].is_null())
                .cloned()
        }
    })
    .await;
    assert_eq!(row["left_reason"], "dropped", "{row}");
}

/// A flood of INVITEs from the address a caller already calls from: past
/// the call ceiling and then the address's rate every one is answered 503,
/// and the caller in the call keeps its audio and takes its seat.
#[actix_web::test]
async fn an_invite_flood_is_refused_and_changes_nothing_for_the_caller_in() {
    let (s, port) = raw_server(1, 10, 30).await;
    let (code, _) = line_with_security(&s).await;
    let mut guest = Ws::connect(&s).await;
    guest.join(&code, Some("2468"), None, "Guest").await;
    let media = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (mut call, _) = dial(port, NUMBER, &media).await.unwrap();

    let flood = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for n in 0..100 {
        let Err(refused) = dial(port, &format!("+4420794600{n:02}"), &flood).await else {
            panic!("a call from the flood was answered");
        };
        assert!(refused.starts_with("SIP/2.0 503"), "{refused}");
    }
    let metrics = s.raw("GET", "/metrics", None, None, None).await.1;
    let metrics = metrics.as_str().unwrap_or_default();
    for outcome in ["full", "rate_limited"] {
        assert!(
            metrics.contains(&format!(
                "conclave_sip_invites_total{{outcome=\"{outcome}\"}}"
            )),
            "{outcome}: {metrics}"
        );
    }

    // The caller in hears the server all along, and is seated.
    let mut frame = [0u8; 1500];
    for _ in 0..25 {
        tokio::time::timeout(Duration::from_millis(500), media.recv_from(&mut frame))
            .await
            .expect("the call's RTP goes on")
            .unwrap();
    }
    keys(&mut call, &format!("{code}#2468##")).await.unwrap();
    let seated = guest.until("participant_joined").await;
    assert_eq!(seated["participant"]["phone"], true, "{seated}");
}
