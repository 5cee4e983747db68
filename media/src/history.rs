//! The recent packets of one published video track, kept once for all its
//! subscribers so that a copy a subscriber reports lost (a NACK) can be
//! sent again. Subscribers' copies differ only in SSRC and payload type,
//! which are set again on the way out, so one history serves them all where
//! a history per sent stream (the interceptor's) held the same packets once
//! per subscriber.

use std::time::Instant;

use rtc::rtp::Packet;

/// Packets kept per track: 2.5 s of video at 100 packets/s. A loss reported
/// later than that is repaired too late to play; the receiver asks for a
/// keyframe instead.
pub const SIZE: u16 = 256;

pub struct History {
    /// Indexed by sequence number modulo the size.
    slots: Box<[Option<Packet>]>,
    mask: u16,
    /// The newest sequence number kept.
    newest: Option<u16>,
}

impl Default for History {
    fn default() -> Self {
        Self::new(SIZE)
    }
}

impl History {
    /// `size` is rounded up to a power of two.
    pub fn new(size: u16) -> Self {
        let size = size.clamp(1, 1 << 15).next_power_of_two();
        Self {
            slots: vec![None; size as usize].into_boxed_slice(),
            mask: size - 1,
            newest: None,
        }
    }

    fn size(&self) -> u16 {
        self.mask + 1
    }

    /// Keeps a packet as subscribers get it (a clone shares its payload).
    pub fn keep(&mut self, packet: &Packet) {
        let seq = packet.header.sequence_number;
        if let Some(newest) = self.newest {
            let ahead = seq.wrapping_sub(newest);
            if ahead == 0 || ahead >= 1 << 15 {
                // A repeat, or older than the newest: kept in its slot
                // only if it still falls in the window.
                if newest.wrapping_sub(seq) < self.size() {
                    self.slots[(seq & self.mask) as usize] = Some(packet.clone());
                }
                return;
            }
            // The slots skipped over hold packets a full window old,
            // which a lookup must not mistake for the skipped ones.
            if ahead >= self.size() {
                self.slots.iter_mut().for_each(|s| *s = None);
            } else {
                let mut s = newest.wrapping_add(1);
                while s != seq {
                    self.slots[(s & self.mask) as usize] = None;
                    s = s.wrapping_add(1);
                }
            }
        }
        self.newest = Some(seq);
        self.slots[(seq & self.mask) as usize] = Some(packet.clone());
    }

    /// The packet with sequence number `seq`, if still kept.
    pub fn get(&self, seq: u16) -> Option<&Packet> {
        let newest = self.newest?;
        if newest.wrapping_sub(seq) >= self.size() {
            return None;
        }
        self.slots[(seq & self.mask) as usize]
            .as_ref()
            .filter(|p| p.header.sequence_number == seq)
    }
}

/// Copies a connection may be sent again per second, and at once: a
/// subscriber losing 10 % of 8 video streams at 150 packets/s asks for
/// 120. The cap keeps a client that NACKs everything from making the
/// server resend without end.
pub const RESENDS_PER_SECOND: u32 = 400;

/// A token bucket of resends, refilled continuously.
#[derive(Debug)]
pub struct ResendBudget {
    tokens: f64,
    at: Option<Instant>,
}

impl Default for ResendBudget {
    fn default() -> Self {
        Self {
            tokens: f64::from(RESENDS_PER_SECOND),
            at: None,
        }
    }
}

impl ResendBudget {
    /// Whether one more copy may be sent again at `now`.
    pub fn take(&mut self, now: Instant) -> bool {
        let cap = f64::from(RESENDS_PER_SECOND);
        if let Some(at) = self.at {
            let refill = now.saturating_duration_since(at).as_secs_f64() * cap;
            self.tokens = (self.tokens + refill).min(cap);
        }
        self.at = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The sequence numbers a NACK reports lost: each pair's packet id and the
/// up to 16 that its bitmask marks after it.
pub fn lost(
    nack: &rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack,
) -> impl Iterator<Item = u16> + '_ {
    nack.nacks.iter().flat_map(|pair| {
        std::iter::once(pair.packet_id).chain(
            (0..16u16)
                .filter(move |i| pair.lost_packets & (1 << i) != 0)
                .map(move |i| pair.packet_id.wrapping_add(i + 1)),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtcp::transport_feedbacks::transport_layer_nack::{NackPair, TransportLayerNack};

    fn packet(seq: u16) -> Packet {
        let mut p = Packet::default();
        p.header.sequence_number = seq;
        p.payload = bytes::Bytes::from(seq.to_be_bytes().to_vec());
        p
    }

    #[test]
    fn a_kept_packet_is_found_until_the_window_moves_past_it() {
        let mut h = History::new(8);
        for seq in 65530..=65535 {
            h.keep(&packet(seq));
        }
        // Across the wrap.
        for seq in 0..=3u16 {
            h.keep(&packet(seq));
        }
        assert_eq!(h.get(65535).unwrap().payload[..], 65535u16.to_be_bytes());
        assert_eq!(h.get(3).unwrap().header.sequence_number, 3);
        assert!(h.get(65531).is_none(), "a full window old");
        assert!(h.get(4).is_none(), "not sent yet");
    }

    #[test]
    fn a_skipped_packet_is_not_answered_with_an_older_one() {
        let mut h = History::new(8);
        h.keep(&packet(1));
        h.keep(&packet(2));
        // 3..=9 never arrived (held back, or lost upstream).
        h.keep(&packet(10));
        assert!(h.get(9).is_none());
        assert!(h.get(3).is_none());
        assert!(h.get(2).is_none(), "out of the window now");
        // A jump of more than the window clears everything.
        h.keep(&packet(100));
        assert!(h.get(10).is_none());
        assert!(h.get(100).is_some());
        // A late packet within the window is kept; a stale one is not.
        h.keep(&packet(97));
        assert!(h.get(97).is_some());
        h.keep(&packet(50));
        assert!(h.get(50).is_none());
    }

    #[test]
    fn resends_are_capped_per_second_and_refill() {
        let mut b = ResendBudget::default();
        let t0 = Instant::now();
        let granted = (0..1000).filter(|_| b.take(t0)).count();
        assert_eq!(granted, RESENDS_PER_SECOND as usize);
        assert!(!b.take(t0));
        let later = t0 + std::time::Duration::from_millis(100);
        let refilled = (0..1000).filter(|_| b.take(later)).count();
        assert_eq!(refilled, RESENDS_PER_SECOND as usize / 10);
    }

    #[test]
    fn a_nack_lists_its_ids_and_bitmask() {
        let nack = TransportLayerNack {
            sender_ssrc: 1,
            media_ssrc: 2,
            nacks: vec![
                NackPair {
                    packet_id: 65534,
                    lost_packets: 0b101,
                },
                NackPair {
                    packet_id: 10,
                    lost_packets: 0,
                },
            ],
        };
        assert_eq!(lost(&nack).collect::<Vec<_>>(), vec![65534, 65535, 1, 10]);
    }
}
