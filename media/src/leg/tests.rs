//! A leg against a full `rtc` peer connection as the client, their
//! datagrams passed in memory on a simulated clock: the client is the same
//! WebRTC stack the integration tests' peers run, so what it accepts here
//! is ICE, DTLS-SRTP and SDP it accepts over a socket.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtc::peer_connection::event::{RTCPeerConnectionEvent, RTCTrackEvent};
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::transport::{CandidateConfig, CandidateHostConfig, RTCIceCandidate};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::RTCRtpReceiverId;
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};

use super::*;

const SERVER: &str = "127.0.0.1:40000";
const CLIENT: &str = "127.0.0.1:50000";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn certificate() -> RTCCertificate {
    crate::conn::Certificate::default().current().unwrap()
}

fn leg(now: Instant) -> Leg {
    Leg::new(
        certificate(),
        "legUfrag0123".into(),
        "legPasswordOf24Characters".into(),
        now,
    )
    .unwrap()
}

fn client(now: Instant) -> RTCPeerConnection {
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_media_engine(crate::peer::media_engine().unwrap())
        .build(now)
        .unwrap();
    let host = CandidateHostConfig {
        base_config: CandidateConfig {
            network: "udp".to_owned(),
            address: "127.0.0.1".to_owned(),
            port: 50000,
            component: 1,
            ..Default::default()
        },
        ..Default::default()
    }
    .new_candidate_host()
    .unwrap();
    pc.add_local_candidate(RTCIceCandidate::from(&host).to_json().unwrap())
        .unwrap();
    pc
}

fn sections() -> Vec<Section> {
    vec![
        Section {
            mid: 0,
            audio: true,
            sending: Some(Sending {
                ssrc: 1111,
                stream: "publisher".into(),
                track: "microphone-1".into(),
            }),
        },
        Section {
            mid: 1,
            audio: false,
            sending: Some(Sending {
                ssrc: 2222,
                stream: "publisher".into(),
                track: "camera-2".into(),
            }),
        },
    ]
}

/// The client's answer to the leg's offer.
fn negotiate(leg: &mut Leg, client: &mut RTCPeerConnection) -> String {
    let offer = leg.offer(addr(SERVER), &sections());
    client
        .set_remote_description(Instant::now(), RTCSessionDescription::offer(offer).unwrap())
        .unwrap();
    let answer = client.create_answer(None).unwrap();
    let sdp = answer.sdp.clone();
    client
        .set_local_description(Instant::now(), answer)
        .unwrap();
    sdp
}

/// Everything both ends did, step by step.
#[derive(Default)]
struct Seen {
    leg_events: Vec<Event>,
    client_state: Option<RTCPeerConnectionState>,
    tracks: Vec<(String, RTCRtpReceiverId)>,
    rtp: Vec<(String, rtc::rtp::Packet)>,
    sender_reports: usize,
}

/// Moves datagrams both ways and fires timers, in 5 ms steps, until
/// `done` or `limit` of simulated time.
fn run(
    now: &mut Instant,
    leg: &mut Leg,
    client: &mut RTCPeerConnection,
    seen: &mut Seen,
    limit: Duration,
    done: impl Fn(&Seen) -> bool,
) {
    let end = *now + limit;
    while *now < end && !done(seen) {
        while let Some(w) = client.poll_write() {
            assert_eq!(
                w.transport.peer_addr,
                addr(SERVER),
                "the client sends to the candidate"
            );
            leg.read(*now, addr(CLIENT), w.message, &mut seen.leg_events);
        }
        while let Some((to, d)) = leg.poll_transmit() {
            // SRTCP leaves its header in the clear: packet type 200 is a
            // sender report. `deliver` fails if the client cannot open it.
            if d.get(1) == Some(&200) {
                seen.sender_reports += 1;
            }
            deliver(*now, client, to, d);
        }
        while let Some(e) = client.poll_event() {
            match e {
                RTCPeerConnectionEvent::OnConnectionStateChangeEvent(s) => {
                    seen.client_state = Some(s)
                }
                RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnOpen(init)) => seen
                    .tracks
                    .push((init.track_id.to_string(), init.receiver_id)),
                _ => {}
            }
        }
        while let Some(m) = client.poll_read() {
            if let RTCMessage::RtpPacket(track, p) = m.message {
                seen.rtp.push((track.to_string(), p));
            }
        }
        *now += Duration::from_millis(5);
        if client.poll_timeout().is_some_and(|t| t <= *now) {
            client.handle_timeout(*now).unwrap();
        }
        if leg.poll_timeout().is_some_and(|t| t <= *now) {
            leg.handle_timeout(*now, &mut seen.leg_events);
        }
    }
}

fn deliver(now: Instant, client: &mut RTCPeerConnection, to: SocketAddr, d: BytesMut) {
    assert_eq!(to, addr(CLIENT), "the leg answers where checks came from");
    client
        .handle_read(TaggedBytesMut {
            now,
            transport: TransportContext {
                local_addr: addr(CLIENT),
                peer_addr: addr(SERVER),
                ecn: None,
                transport_protocol: TransportProtocol::UDP,
            },
            message: d,
        })
        .unwrap();
}

fn connected(s: &Seen) -> bool {
    s.client_state == Some(RTCPeerConnectionState::Connected)
        && s.leg_events.iter().any(|e| matches!(e, Event::Connected))
}

fn vp8(seq: u16) -> rtc::rtp::Packet {
    rtc::rtp::Packet {
        header: rtc::rtp::Header {
            version: 2,
            marker: true,
            payload_type: crate::peer::VP8_PT,
            sequence_number: seq,
            timestamp: 3000 * u32::from(seq),
            ssrc: 2222,
            ..Default::default()
        },
        // A VP8 keyframe's first bytes: descriptor, then a frame tag.
        payload: Bytes::from(vec![0x10, 0x00, 0x9d, 0x01, 0x2a, 1, 2, 3, 4, 5, 6, 7]),
    }
}

#[test]
fn a_client_connects_receives_sealed_media_and_sender_reports_and_asks_for_keyframes() {
    let mut now = Instant::now();
    let mut leg = leg(now);
    let mut client = client(now);
    let answer = negotiate(&mut leg, &mut client);
    let mut seen = Seen::default();
    // The client starts checks (and DTLS) before its answer reaches the
    // server: what arrives early waits.
    run(
        &mut now,
        &mut leg,
        &mut client,
        &mut seen,
        Duration::from_millis(200),
        |_| false,
    );
    assert!(!leg.connected());
    leg.answer(now, &answer).unwrap();
    run(
        &mut now,
        &mut leg,
        &mut client,
        &mut seen,
        Duration::from_secs(10),
        connected,
    );
    assert!(connected(&seen), "client state {:?}", seen.client_state);

    let mut out = Vec::new();
    for seq in 1..=30 {
        assert!(leg.send_rtp(now, &vp8(seq), 90_000, &mut out));
    }
    assert!(out.iter().all(|(to, _)| *to == addr(CLIENT)));
    for (to, d) in out.drain(..) {
        deliver(now, &mut client, to, d);
    }
    run(
        &mut now,
        &mut leg,
        &mut client,
        &mut seen,
        Duration::from_millis(2_500),
        |s| s.rtp.len() >= 30 && s.sender_reports >= 2,
    );
    let camera = seen
        .tracks
        .iter()
        .find(|(id, _)| id == "camera-2")
        .unwrap_or_else(|| {
            panic!(
                "the client sees the offered track: {:?}",
                seen.tracks.iter().map(|t| &t.0).collect::<Vec<_>>()
            )
        });
    assert_eq!(
        seen.rtp.len(),
        30,
        "every sealed packet opens at the client"
    );
    assert!(seen.rtp.iter().all(|(track, _)| *track == camera.0));
    assert_eq!(seen.rtp[29].1.payload, vp8(30).payload);
    assert!(
        seen.sender_reports >= 2,
        "a report a second: {}",
        seen.sender_reports
    );

    let receiver = camera.1;
    client
        .rtp_receiver(receiver)
        .unwrap()
        .write_rtcp(
            now,
            vec![Box::new(PictureLossIndication {
                sender_ssrc: 1,
                media_ssrc: 2222,
            })],
        )
        .unwrap();
    seen.leg_events.clear();
    run(
        &mut now,
        &mut leg,
        &mut client,
        &mut seen,
        Duration::from_millis(100),
        |s| s.leg_events.iter().any(|e| matches!(e, Event::Feedback(_))),
    );
    let asked = seen.leg_events.iter().any(|e| match e {
        Event::Feedback(ps) => ps
            .iter()
            .any(|p| crate::keyframes::is_keyframe_request(p.as_ref())),
        _ => false,
    });
    assert!(asked, "the client's PLI reaches the leg, opened");
}

#[test]
fn a_client_whose_certificate_is_not_the_answers_never_gets_keys() {
    let mut now = Instant::now();
    let mut leg = leg(now);
    let mut client = client(now);
    let answer = negotiate(&mut leg, &mut client);
    // Another certificate's fingerprint in the answer, as a tampered
    // signalling path would put there.
    let fake = certificate()
        .get_fingerprints(rtc::crypto::default_provider().unwrap().crypto())
        .unwrap()[0]
        .value
        .clone();
    let real = answer
        .lines()
        .find_map(|l| l.strip_prefix("a=fingerprint:sha-256 "))
        .unwrap()
        .trim()
        .to_owned();
    leg.answer(now, &answer.replace(&real, &fake)).unwrap();
    let mut seen = Seen::default();
    run(
        &mut now,
        &mut leg,
        &mut client,
        &mut seen,
        Duration::from_secs(5),
        connected,
    );
    assert!(!leg.connected());
    assert!(!seen
        .leg_events
        .iter()
        .any(|e| matches!(e, Event::Connected)));
    let mut out = Vec::new();
    assert!(!leg.send_rtp(now, &vp8(1), 90_000, &mut out));
    assert!(out.is_empty(), "nothing is sent without keys");
}

#[test]
fn a_silent_client_is_lost_after_the_consent_window_and_a_closed_leg_says_so() {
    let mut now = Instant::now();
    let mut leg = leg(now);
    let mut client = client(now);
    let answer = negotiate(&mut leg, &mut client);
    leg.answer(now, &answer).unwrap();
    let mut seen = Seen::default();
    run(
        &mut now,
        &mut leg,
        &mut client,
        &mut seen,
        Duration::from_secs(10),
        connected,
    );
    assert!(leg.connected());

    // The client goes away without a word: only the leg's clock runs.
    let mut events = Vec::new();
    let deadline = leg.poll_timeout().unwrap();
    assert!(deadline <= now + CONSENT);
    let mut t = now;
    while !matches!(events.last(), Some(Event::Lost)) && t < now + CONSENT + Duration::from_secs(2)
    {
        t += Duration::from_millis(500);
        leg.handle_timeout(t, &mut events);
    }
    assert!(matches!(events.last(), Some(Event::Lost)));
    assert!(
        t >= now + CONSENT - Duration::from_secs(1),
        "not before the window"
    );
    assert!(!leg.connected());
    let mut out = Vec::new();
    assert!(!leg.send_rtp(t, &vp8(1), 90_000, &mut out));
}

#[test]
fn an_answer_that_picks_no_dtls_role_is_refused() {
    let now = Instant::now();
    let mut leg = leg(now);
    let mut client = client(now);
    let answer = negotiate(&mut leg, &mut client);
    let role = answer.lines().find(|l| l.starts_with("a=setup:")).unwrap();
    let neither = answer.replace(role, "a=setup:actpass");
    assert_eq!(leg.answer(now, &neither), Err(BadAnswer::NoSetup));
    assert!(leg.answer(now, &answer).is_ok());
}
