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

fn peer(s: &str) -> Peer {
    Peer::udp(addr(s))
}

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

/// Everything the client saw and the leg said, step by step.
#[derive(Default)]
struct Seen {
    leg_events: Vec<Event>,
    client_state: Option<RTCPeerConnectionState>,
    tracks: Vec<(String, RTCRtpReceiverId)>,
    rtp: Vec<(String, rtc::rtp::Packet)>,
    sender_reports: usize,
}

/// Which way a datagram goes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Way {
    ToLeg = 0,
    ToClient = 1,
}

/// A leg and its client on one simulated clock.
struct Pair {
    now: Instant,
    leg: Leg,
    client: RTCPeerConnection,
    seen: Seen,
}

impl Pair {
    /// The leg has offered and the client answered; the leg does not have
    /// the answer yet, which is returned.
    fn offered() -> (Self, String) {
        let now = Instant::now();
        let mut pair = Self {
            now,
            leg: leg(now),
            client: client(now),
            seen: Seen::default(),
        };
        let answer = pair.renegotiate(&sections());
        (pair, answer)
    }

    /// Connected, the answer taken.
    fn connected() -> Self {
        let (mut pair, answer) = Self::offered();
        pair.leg.answer(pair.now, &answer).unwrap();
        pair.run(Duration::from_secs(10), connected);
        assert!(
            connected(&pair.seen),
            "client state {:?}",
            pair.seen.client_state
        );
        pair
    }

    /// The leg offers `sections`; the client's answer.
    fn renegotiate(&mut self, sections: &[Section]) -> String {
        let offer = self.leg.offer(
            Announced {
                udp: addr(SERVER),
                tcp: None,
            },
            sections,
        );
        self.client
            .set_remote_description(self.now, RTCSessionDescription::offer(offer).unwrap())
            .unwrap();
        let answer = self.client.create_answer(None).unwrap();
        let sdp = answer.sdp.clone();
        self.client.set_local_description(self.now, answer).unwrap();
        sdp
    }

    /// Moves datagrams both ways and fires timers, in 5 ms steps, until
    /// `done` or `limit` of simulated time.
    fn run(&mut self, limit: Duration, done: impl Fn(&Seen) -> bool) {
        self.run_losing(limit, done, |_, _| false);
    }

    /// As [`Pair::run`], but the DTLS datagrams for which `lose(way, n)`
    /// holds (the `n`th, from 0, that way) never arrive.
    fn run_losing(
        &mut self,
        limit: Duration,
        done: impl Fn(&Seen) -> bool,
        mut lose: impl FnMut(Way, usize) -> bool,
    ) {
        let end = self.now + limit;
        let mut dtls = [0, 0];
        let mut lost = |way: Way, d: &[u8]| {
            if !d.first().is_some_and(|b| (20..=63).contains(b)) {
                return false;
            }
            dtls[way as usize] += 1;
            lose(way, dtls[way as usize] - 1)
        };
        while self.now < end && !done(&self.seen) {
            let now = self.now;
            while let Some(w) = self.client.poll_write() {
                assert_eq!(
                    w.transport.peer_addr,
                    addr(SERVER),
                    "the client sends to the candidate"
                );
                if !lost(Way::ToLeg, &w.message) {
                    self.leg
                        .read(now, peer(CLIENT), w.message, &mut self.seen.leg_events);
                }
            }
            while let Some((to, d)) = self.leg.poll_transmit() {
                if lost(Way::ToClient, &d) {
                    continue;
                }
                // SRTCP leaves its header in the clear: packet type 200 is
                // a sender report. `deliver` fails if the client cannot
                // open it.
                if d.get(1) == Some(&200) {
                    self.seen.sender_reports += 1;
                }
                deliver(now, &mut self.client, to, d);
            }
            while let Some(e) = self.client.poll_event() {
                match e {
                    RTCPeerConnectionEvent::OnConnectionStateChangeEvent(s) => {
                        self.seen.client_state = Some(s)
                    }
                    RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnOpen(init)) => self
                        .seen
                        .tracks
                        .push((init.track_id.to_string(), init.receiver_id)),
                    _ => {}
                }
            }
            while let Some(m) = self.client.poll_read() {
                if let RTCMessage::RtpPacket(track, p) = m.message {
                    self.seen.rtp.push((track.to_string(), p));
                }
            }
            self.now += Duration::from_millis(5);
            if self.client.poll_timeout().is_some_and(|t| t <= self.now) {
                self.client.handle_timeout(self.now).unwrap();
            }
            if self.leg.poll_timeout().is_some_and(|t| t <= self.now) {
                self.leg.handle_timeout(self.now, &mut self.seen.leg_events);
            }
        }
    }

    /// Seals `packets` and hands them to the client.
    fn send(&mut self, packets: &[rtc::rtp::Packet]) {
        let mut out = Vec::new();
        for p in packets {
            assert!(self.leg.send_rtp(self.now, p.clone(), 90_000, &mut out));
        }
        for (to, d) in out {
            deliver(self.now, &mut self.client, to, d);
        }
    }
}

fn deliver(now: Instant, client: &mut RTCPeerConnection, to: Peer, d: BytesMut) {
    assert_eq!(to, peer(CLIENT), "the leg answers where checks came from");
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
    let (mut p, answer) = Pair::offered();
    // The client starts checks (and DTLS) before its answer reaches the
    // server: what arrives early waits.
    p.run(Duration::from_millis(200), |_| false);
    assert!(!p.leg.connected());
    p.leg.answer(p.now, &answer).unwrap();
    p.run(Duration::from_secs(10), connected);
    assert!(connected(&p.seen), "client state {:?}", p.seen.client_state);

    let packets: Vec<_> = (1..=30).map(vp8).collect();
    p.send(&packets);
    p.run(Duration::from_millis(2_500), |s| {
        s.rtp.len() >= 30 && s.sender_reports >= 2
    });
    let seen = &p.seen;
    let camera = seen
        .tracks
        .iter()
        .find(|(id, _)| id == "camera-2")
        .unwrap_or_else(|| {
            panic!(
                "the client sees the offered track: {:?}",
                seen.tracks.iter().map(|t| &t.0).collect::<Vec<_>>()
            )
        })
        .clone();
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

    p.client
        .rtp_receiver(camera.1)
        .unwrap()
        .write_rtcp(
            p.now,
            vec![Box::new(PictureLossIndication {
                sender_ssrc: 1,
                media_ssrc: 2222,
            })],
        )
        .unwrap();
    p.seen.leg_events.clear();
    p.run(Duration::from_millis(100), |s| {
        s.leg_events.iter().any(|e| matches!(e, Event::Feedback(_)))
    });
    let asked = p.seen.leg_events.iter().any(|e| match e {
        Event::Feedback(ps) => ps
            .iter()
            .any(|p| crate::keyframes::is_keyframe_request(p.as_ref())),
        _ => false,
    });
    assert!(asked, "the client's PLI reaches the leg, opened");
}

#[test]
fn copies_large_and_small_in_turn_open_at_the_client_as_they_were_sent() {
    // Each copy is marshalled and sealed in a buffer of its own size: a
    // small copy after a large one must not carry the large one's tail.
    let (mut p, answer) = Pair::offered();
    p.leg.answer(p.now, &answer).unwrap();
    p.run(Duration::from_secs(10), connected);
    assert!(connected(&p.seen), "client state {:?}", p.seen.client_state);
    // The client took AES-GCM, as browsers do: the leg's own seal.
    assert!(p.leg.srtp.as_ref().is_some_and(|s| s.rtp.is_some()));
    let sizes = [1_000usize, 3, 600, 40, 1_100, 0, 1_000];
    let packets: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let mut packet = vp8(i as u16 + 1);
            let mut payload = packet.payload.to_vec();
            payload.extend((0..n).map(|k| (k * 7 + i) as u8));
            packet.payload = Bytes::from(payload);
            packet
        })
        .collect();
    p.send(&packets);
    p.run(Duration::from_millis(500), |s| s.rtp.len() >= sizes.len());
    let got: Vec<_> = p.seen.rtp.iter().map(|(_, r)| r.payload.clone()).collect();
    let sent: Vec<_> = packets.iter().map(|r| r.payload.clone()).collect();
    assert_eq!(got, sent);
}

#[test]
fn a_silent_client_is_lost_after_the_consent_window() {
    let Pair { now, mut leg, .. } = Pair::connected();
    // The client goes away without a word: only the leg's clock runs.
    let mut events = Vec::new();
    assert!(leg.poll_timeout().unwrap() <= now + CONSENT);
    let mut t = now;
    while !matches!(events.last(), Some(Event::Lost { .. }))
        && t < now + CONSENT + Duration::from_secs(2)
    {
        t += Duration::from_millis(500);
        leg.handle_timeout(t, &mut events);
    }
    assert!(
        matches!(events.last(), Some(Event::Lost { retry: true })),
        "a client that had reached the leg may be given a new one"
    );
    assert!(
        t >= now + CONSENT - Duration::from_secs(1),
        "not before the window"
    );
    assert!(!leg.connected());
    let mut out = Vec::new();
    assert!(!leg.send_rtp(t, vp8(1), 90_000, &mut out));
}

#[test]
fn a_section_a_track_left_carries_the_next_track_after_renegotiation() {
    let mut p = Pair::connected();
    p.send(&[vp8(1)]);
    p.run(Duration::from_millis(50), |s| !s.rtp.is_empty());
    assert_eq!(p.seen.rtp.len(), 1);

    // The camera's publisher leaves; another's camera takes its section.
    let mut sections = sections();
    offer::free(&mut sections, 2222);
    let mid = offer::place(
        &mut sections,
        false,
        Sending {
            ssrc: 3333,
            stream: "another".into(),
            track: "camera-9".into(),
        },
    );
    assert_eq!(mid, 1, "the freed section is reused");
    let answer = p.renegotiate(&sections);
    p.leg.answer(p.now, &answer).unwrap();
    p.run(Duration::from_millis(50), |_| false);

    let packets: Vec<_> = (1..=10)
        .map(|seq| {
            let mut next = vp8(seq);
            next.header.ssrc = 3333;
            next
        })
        .collect();
    p.send(&packets);
    p.run(Duration::from_millis(200), |s| s.rtp.len() >= 11);
    let new = p
        .seen
        .rtp
        .iter()
        .filter(|(_, x)| x.header.ssrc == 3333)
        .count();
    assert_eq!(new, 10, "the new track's packets reach the client");
    assert!(
        p.seen.tracks.iter().any(|(id, _)| id == "camera-9"),
        "the client sees the new track: {:?}",
        p.seen.tracks.iter().map(|t| &t.0).collect::<Vec<_>>()
    );
}

#[test]
fn hostile_datagrams_change_nothing_on_a_connected_leg() {
    let mut p = Pair::connected();
    p.seen.leg_events.clear();
    let stranger = peer("127.0.0.1:50999");
    let mut junk: Vec<Vec<u8>> = vec![
        vec![],
        vec![0],
        vec![1, 1, 0, 8, 0x21, 0x12, 0xA4, 0x42],
        vec![22, 254, 253, 0, 0, 0, 0, 0, 0, 0, 1, 0, 5, 1, 2],
        vec![0x80, 200, 0, 6, 1, 2, 3, 4],
        vec![0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 8, 174, 9, 9],
        vec![0x80; 1500],
        vec![255; 64],
    ];
    // Pseudo-random bytes after each demultiplexing first byte.
    let mut x: u32 = 0x9E37_79B9;
    for first in [0u8, 3, 20, 23, 63, 128, 191] {
        let mut d = vec![first];
        for _ in 0..200 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            d.push(x as u8);
        }
        junk.push(d);
    }
    for d in &junk {
        // The client's own address over TCP passed no check either.
        for from in [peer(CLIENT), stranger, Peer::tcp(addr(CLIENT))] {
            p.leg
                .read(p.now, from, BytesMut::from(&d[..]), &mut p.seen.leg_events);
        }
    }
    assert!(
        p.seen.leg_events.is_empty(),
        "no event from junk: {}",
        p.seen.leg_events.len()
    );
    while let Some((to, _)) = p.leg.poll_transmit() {
        assert_eq!(
            to,
            peer(CLIENT),
            "nothing goes to an address that passed no check"
        );
    }
    assert!(p.leg.connected());
    let before = p.seen.rtp.len();
    p.send(&[vp8(2)]);
    p.run(Duration::from_millis(50), |s| s.rtp.len() > before);
    assert_eq!(p.seen.rtp.len(), before + 1, "media still flows");
}

#[test]
fn media_goes_to_the_first_checked_address_until_a_nomination_moves_it() {
    let now = Instant::now();
    let mut leg = leg(now);
    let check = |nominate| {
        let r = super::ice::tests::request(
            "legUfrag0123:client",
            "legPasswordOf24Characters",
            nominate,
        );
        BytesMut::from(&r[..])
    };
    let (a, b, c) = (
        peer("127.0.0.1:50001"),
        peer("127.0.0.1:50002"),
        peer("127.0.0.1:50003"),
    );
    // The same address over ICE-TCP is another path.
    let t = Peer::tcp(c.addr);
    let mut events = Vec::new();
    leg.read(now, a, check(false), &mut events);
    assert_eq!(leg.remote, Some(a));
    leg.read(now, b, check(false), &mut events);
    assert_eq!(leg.remote, Some(a), "a plain check does not move it");
    leg.read(now, c, check(true), &mut events);
    assert_eq!(leg.remote, Some(c), "a nomination does");
    let forged = super::ice::tests::request("legUfrag0123:client", "notThePassword", true);
    leg.read(now, b, BytesMut::from(&forged[..]), &mut events);
    assert_eq!(leg.remote, Some(c), "a forged nomination does not");
    leg.read(now, t, check(true), &mut events);
    assert_eq!(leg.remote, Some(t), "a nomination over TCP moves it to TCP");
    let answered: Vec<_> = std::iter::from_fn(|| leg.poll_transmit())
        .map(|(to, _)| to)
        .collect();
    assert_eq!(
        answered,
        vec![a, b, c, t],
        "each signed check is answered where it came from"
    );
}

mod handshake;
mod sealed;
