use bytes::BytesMut;
use rand::{Rng, SeedableRng};
use rtc::shared::marshal::{Marshal, MarshalSize};
use rtc::srtp::context::Context;
use rtc::srtp::protection_profile::ProtectionProfile;

use super::*;

fn header(ssrc: u32, seq: u16) -> rtc::rtp::header::Header {
    rtc::rtp::header::Header {
        version: 2,
        marker: seq.is_multiple_of(3),
        payload_type: 96,
        sequence_number: seq,
        timestamp: u32::from(seq).wrapping_mul(3_000),
        ssrc,
        ..Default::default()
    }
}

/// rtc's SRTP context for AES-128-GCM under `key` and `salt`.
fn rtc_context(key: &[u8], salt: &[u8]) -> Context {
    let provider = rtc::crypto::default_provider().unwrap();
    Context::new(
        key,
        salt,
        ProtectionProfile::AeadAes128Gcm,
        None,
        None,
        provider.crypto(),
    )
    .unwrap()
}

/// Seals with `ours`, and with rtc's own context for the same key: the
/// same bytes. The order goes across a sequence wrap on two SSRCs, with
/// copies sent again from before the wrap and after it.
#[test]
fn sealed_copies_are_the_rtc_contexts_bytes_across_wraps_and_resends() {
    let provider = rtc::crypto::default_provider().unwrap();
    let crypto = provider.crypto();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let key: [u8; 16] = rng.gen();
    let salt: [u8; 12] = rng.gen();
    let mut ours = GcmRtp::new(crypto, &key, &salt).unwrap();
    // rtc's context seals as the leg did before; another opens.
    let (mut theirs, mut opener) = (rtc_context(&key, &salt), rtc_context(&key, &salt));
    let mut order: Vec<(u32, u16)> = Vec::new();
    for step in 0..40u16 {
        let seq = 65_520u16.wrapping_add(step);
        order.push((0x1234_5678, seq));
        order.push((0x0BAD_CAFE, seq.wrapping_add(8)));
        // Resent: one from four back, on either side of the wrap.
        if step % 5 == 4 {
            order.push((0x1234_5678, seq.wrapping_sub(4)));
        }
    }
    // A second wrap, far along: the count goes to 2.
    for seq in (0..=65_535u16).step_by(1_000).chain(0..20) {
        order.push((0x1234_5678, seq));
    }
    let mut sealed = 0;
    for (ssrc, seq) in order {
        let h = header(ssrc, seq);
        let payload: Vec<u8> = (0..rng.gen_range(0..1_200)).map(|_| rng.gen()).collect();
        let mut plain = BytesMut::zeroed(h.marshal_size());
        h.marshal_to(&mut plain[..]).unwrap();
        plain.extend_from_slice(&payload);
        let expected = theirs.encrypt_rtp_with_header(&plain, &h).unwrap();
        let mut got = plain.clone();
        ours.seal(&mut got, h.marshal_size(), ssrc, seq).unwrap();
        assert_eq!(got, expected, "ssrc {ssrc:x} seq {seq}");
        assert_eq!(opener.decrypt_rtp(&got).unwrap(), plain);
        sealed += 1;
    }
    assert!(sealed > 150);
}

#[test]
fn a_packet_sealed_under_another_key_or_altered_does_not_open() {
    let provider = rtc::crypto::default_provider().unwrap();
    let crypto = provider.crypto();
    let (key, salt) = ([1u8; 16], [2u8; 12]);
    let mut ours = GcmRtp::new(crypto, &key, &salt).unwrap();
    let h = header(9, 100);
    let mut packet = BytesMut::zeroed(h.marshal_size());
    h.marshal_to(&mut packet[..]).unwrap();
    packet.extend_from_slice(b"payload");
    ours.seal(&mut packet, h.marshal_size(), 9, 100).unwrap();
    assert_eq!(packet.len(), 12 + 7 + TAG);
    let open = |key: [u8; 16], bytes: &[u8]| rtc_context(&key, &salt).decrypt_rtp(bytes);
    assert!(open(key, &packet).is_ok());
    assert!(open([3; 16], &packet).is_err());
    let mut altered = packet.clone();
    altered[3] ^= 1; // the sequence number, authenticated not encrypted
    assert!(open(key, &altered).is_err());
}

/// The rollover count a receiver would guess (RFC 3711 §3.3.1), ties
/// included: half the sequence space ahead of or behind the highest sent.
#[test]
fn the_rollover_count_is_the_receivers_guess_at_the_ties_too() {
    let provider = rtc::crypto::default_provider().unwrap();
    let mut g = GcmRtp::new(provider.crypto(), &[1; 16], &[2; 12]).unwrap();
    let ssrc = 3;
    assert_eq!(g.index(ssrc, 65_000), Some(65_000));
    assert_eq!(g.index(ssrc, 10), Some((1 << 16) | 10), "wrapped");
    assert_eq!(g.index(ssrc, 65_530), Some(65_530), "from before the wrap");
    // Highest 1|10: 10 + 32768 is a tie, which libsrtp keeps in count 1.
    assert_eq!(g.index(ssrc, 10 + 32_768), Some((1 << 16) | 32_778));
    // Highest 1|32778: 10 is a tie the other way, also count 1.
    assert_eq!(g.index(ssrc, 10), Some((1 << 16) | 10));
    assert_eq!(
        g.index(ssrc, 9),
        Some((2 << 16) | 9),
        "one past the tie: ahead, in the next count"
    );
    // The first packet on an SSRC is count 0, whatever its number.
    assert_eq!(g.index(4, 40_000), Some(40_000));
    let mut packet = BytesMut::from(&[0x80u8, 96, 0, 1][..]);
    assert!(matches!(
        g.seal(&mut packet, 12, ssrc, 1),
        Err(SealError::Short)
    ));
}
