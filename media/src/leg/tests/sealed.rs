//! What a leg seals: probe padding, copies and copies sent again, and
//! the transport-wide feedback it reads back.

use std::time::Duration;

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::shared::marshal::Unmarshal;
use rtc::srtp::context::Context;
use rtc::srtp::protection_profile::ProtectionProfile::AeadAes128Gcm;

use super::*;

#[test]
fn a_compound_packet_gives_its_transport_feedback_to_the_estimator_and_the_rest_to_rtc() {
    use rtc::rtcp::receiver_report::ReceiverReport;
    use rtc::rtcp::transport_feedbacks::transport_layer_cc::{
        PacketStatusChunk, RunLengthChunk, StatusChunkTypeTcc, SymbolTypeTcc, TransportLayerCc,
    };
    let mut sent = crate::bwe::Sent::default();
    let t = Instant::now();
    for _ in 0..3 {
        sent.stamp(t, 1_000);
    }
    let feedback = TransportLayerCc {
        base_sequence_number: 0,
        packet_status_count: 3,
        reference_time: 1,
        packet_chunks: vec![PacketStatusChunk::RunLengthChunk(RunLengthChunk {
            type_tcc: StatusChunkTypeTcc::RunLengthChunk,
            packet_status_symbol: SymbolTypeTcc::PacketNotReceived,
            run_length: 3,
        })],
        ..Default::default()
    };
    let report = ReceiverReport {
        ssrc: 7,
        ..Default::default()
    };
    let pli = PictureLossIndication {
        sender_ssrc: 7,
        media_ssrc: 2222,
    };
    let compound = |packets: Vec<Box<dyn rtc::rtcp::Packet>>| {
        rtc::rtcp::packet::marshal(&packets).unwrap().to_vec()
    };

    let mut events = Vec::new();
    let plain = compound(vec![
        Box::new(report.clone()),
        Box::new(feedback),
        Box::new(pli.clone()),
    ]);
    let others = feedback::split_transport(&plain, &sent, &mut events).expect("it holds feedback");
    let [Event::Transport(observed)] = events.as_slice() else {
        panic!("one transport event");
    };
    assert_eq!(observed.len(), 3);
    assert!(observed
        .iter()
        .all(|o| o.arrival_us.is_none() && o.size == 1_000));
    let rest = rtc::rtcp::packet::unmarshal(&mut others.freeze()).unwrap();
    assert_eq!(rest.len(), 2, "the report and the PLI, in order");
    assert!(rest[0].as_any().downcast_ref::<ReceiverReport>().is_some());
    assert!(rest[1]
        .as_any()
        .downcast_ref::<PictureLossIndication>()
        .is_some());

    // Without feedback the packet goes to rtc as it came.
    let mut events = Vec::new();
    let plain = compound(vec![Box::new(report), Box::new(pli)]);
    assert!(feedback::split_transport(&plain, &sent, &mut events).is_none());
    assert!(events.is_empty());
    // A header cut short at the end is not a packet.
    assert_eq!(feedback::rtcp_packets(&plain[..plain.len() - 1]).count(), 2);
    assert_eq!(feedback::rtcp_packets(&plain[..3]).count(), 0);
}

const KEY: [u8; 16] = [5; 16];
const SALT: [u8; 12] = [6; 12];

/// rtc's context under the test's keys, to open what the leg sealed.
fn opener() -> Context {
    let provider = rtc::crypto::default_provider().unwrap();
    Context::new(&KEY, &SALT, AeadAes128Gcm, None, None, provider.crypto()).unwrap()
}

/// A connected leg that numbers its packets, sealing under keys the
/// test knows in place of the handshake's; nothing left to send.
fn keyed() -> Pair {
    let mut p = Pair::connected();
    let provider = rtc::crypto::default_provider().unwrap();
    p.leg.srtp = Some(Box::new(dtls::Srtp {
        rtp: Some(seal::GcmRtp::new(provider.crypto(), &KEY, &SALT).unwrap()),
        local: opener(),
        remote: opener(),
    }));
    p.leg.enable_twcc();
    while p.leg.poll_transmit().is_some() {}
    p
}

#[test]
fn probe_padding_and_copies_open_under_the_legs_keys() {
    let mut p = keyed();
    let mut out = Vec::new();
    assert!(p.leg.send_rtp(p.now, vp8(1), 90_000, &mut out));
    p.leg.pad(p.now, 400_000, Duration::from_secs(1));
    let mut events = Vec::new();
    let mut padding = Vec::new();
    for step in 1..=20 {
        let now = p.now + Duration::from_millis(5 * step);
        p.leg.handle_timeout(now, &mut events);
        padding.extend(
            std::iter::from_fn(|| p.leg.poll_transmit())
                .map(|(_, d)| d)
                .filter(|d| d.get(1).is_some_and(|b| b & 0x7f == crate::peer::VP8_PT)),
        );
    }
    assert!(
        padding.len() >= 2,
        "100 ms at 400 kbit/s: {}",
        padding.len()
    );
    let mut opener = opener();
    let copy = opener.decrypt_rtp(&out[0].1).expect("the copy opens");
    let copy = rtc::rtp::Packet::unmarshal(&mut &copy[..]).unwrap();
    assert_eq!(copy.payload, vp8(1).payload);
    assert!(copy.header.get_extension(crate::bwe::TWCC_ID).is_some());
    for sealed in padding {
        let plain = opener.decrypt_rtp(&sealed).expect("the padding opens");
        assert_eq!(plain.len(), 12 + 8 + probe::PADDING);
        assert_eq!(plain.last(), Some(&(probe::PADDING as u8)));
        let header = rtc::rtp::header::Header::unmarshal(&mut &plain[..]).unwrap();
        assert!(header.padding);
        assert_ne!(header.ssrc, 2222);
        assert!(header.get_extension(crate::bwe::TWCC_ID).is_some());
    }
}

#[test]
fn a_copy_sent_again_is_the_same_bytes_or_is_not_sent() {
    // Under AES-GCM a copy sent again has its first sending's nonce; with
    // another transport-wide number in its header it would be a second
    // tag under that nonce (leg/copies.rs).
    let mut p = keyed();
    let mut first = Vec::new();
    for seq in 1..=3 {
        assert!(p.leg.send_rtp(p.now, vp8(seq), 90_000, &mut first));
    }
    let mut again = Vec::new();
    let rtt = Duration::from_millis(200);
    assert_eq!(
        p.leg.resend_due(vp8(2).header.ssrc, 2, p.now, rtt),
        Some(true)
    );
    assert!(p.leg.resend_rtp(p.now, vp8(2), 90_000, &mut again));
    assert_eq!(again[0].1, first[1].1, "the same bytes as the first time");
    // Asked for again before a round trip passed: not due yet.
    let ssrc = vp8(2).header.ssrc;
    assert_eq!(p.leg.resend_due(ssrc, 2, p.now + rtt / 2, rtt), Some(false));
    assert_eq!(p.leg.resend_due(ssrc, 2, p.now + rtt, rtt), Some(true));
    assert_eq!(p.leg.resend_due(ssrc, 9, p.now, rtt), None, "never sent");
    assert!(
        !p.leg.resend_rtp(p.now, vp8(9), 90_000, &mut again),
        "never sent: not sent now"
    );
    // A padded copy: padding as rtc marshals it, and the same again.
    let mut padded = vp8(4);
    padded.header.padding = true;
    padded.payload = Bytes::from_static(&[0x90, 0x80, 0x01, 0x02, 0x03]);
    assert!(p.leg.send_rtp(p.now, padded.clone(), 90_000, &mut first));
    assert!(p.leg.resend_rtp(p.now, padded.clone(), 90_000, &mut again));
    assert_eq!(again.last().unwrap().1, first.last().unwrap().1);
    let plain = opener().decrypt_rtp(&first.last().unwrap().1).unwrap();
    let mut expected = padded.clone();
    crate::bwe::put_number(&mut expected.header, 3, &mut Vec::new());
    assert_eq!(&plain[..], &expected.marshal().unwrap()[..]);
    // Long enough ago, a copy is no longer remembered.
    for seq in 10..10 + crate::history::SIZE {
        assert!(p.leg.send_rtp(p.now, vp8(seq), 90_000, &mut first));
    }
    assert!(!p.leg.resend_rtp(p.now, vp8(2), 90_000, &mut again));
    assert_eq!(again.len(), 2);
}
