//! How each recent copy a leg sent was numbered, so that a copy sent again
//! for a NACK goes out as the same bytes.
//!
//! Sent again, a copy has its first sending's SSRC and sequence number,
//! so SRTP's nonce (RFC 7714 §8.1) and its ciphertext are the same. Had
//! it another transport-wide number, its header, which AES-GCM
//! authenticates, would differ: two tags under one nonce give away the
//! hash key, and with it the means to forge packets (RFC 7714 §8.2,
//! "Reuse of the same nonce"). So it carries the number it first went out
//! with, or is not sent again.
//!
//! Nor is it sent again within a round trip of the last time: a client
//! asks again for what is still missing every 100 ms or so, whatever the
//! round trip (Chromium's default, where a receive-only connection has
//! no round trip of its own), and behind a queue of a few hundred
//! milliseconds each loss would go several times, the copies filling the
//! queue that lost it.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::seal::SsrcHasher;
use crate::socket::Peer;

/// Copies remembered per SSRC: the track history's depth.
const RECENT: usize = crate::history::SIZE as usize;

#[derive(Clone, Copy, Default)]
struct Slot {
    seq: u16,
    /// The transport-wide number it carried, if any.
    number: Option<u16>,
    kept: bool,
    /// When it was last sent again.
    resent: Option<Instant>,
}

#[derive(Default)]
pub struct Copies {
    by_ssrc: HashMap<u32, Box<[Slot]>, BuildHasherDefault<SsrcHasher>>,
}

impl Copies {
    /// Copy `seq` of `ssrc` went out numbered `number`.
    pub fn sent(&mut self, ssrc: u32, seq: u16, number: Option<u16>) {
        let slots = self
            .by_ssrc
            .entry(ssrc)
            .or_insert_with(|| vec![Slot::default(); RECENT].into_boxed_slice());
        slots[usize::from(seq) % RECENT] = Slot {
            seq,
            number,
            kept: true,
            resent: None,
        };
    }

    fn slot(&mut self, ssrc: u32, seq: u16) -> Option<&mut Slot> {
        let slot = &mut self.by_ssrc.get_mut(&ssrc)?[usize::from(seq) % RECENT];
        (slot.kept && slot.seq == seq).then_some(slot)
    }

    /// Whether copy `seq` of `ssrc` may be sent again at `now`: `None`
    /// when it is not remembered, `Some(false)` when it was sent again
    /// within `round_trip`.
    pub fn due(&mut self, ssrc: u32, seq: u16, now: Instant, round_trip: Duration) -> Option<bool> {
        self.slot(ssrc, seq).map(|s| {
            s.resent
                .is_none_or(|at| now.saturating_duration_since(at) >= round_trip)
        })
    }

    /// Copy `seq` of `ssrc` was sent again at `now`.
    pub fn resent(&mut self, ssrc: u32, seq: u16, now: Instant) {
        if let Some(s) = self.slot(ssrc, seq) {
            s.resent = Some(now);
        }
    }

    /// How copy `seq` of `ssrc` was numbered; `None` when it is not one
    /// of the recent copies (never sent, or too long ago).
    pub fn number(&self, ssrc: u32, seq: u16) -> Option<Option<u16>> {
        let slot = self.by_ssrc.get(&ssrc)?[usize::from(seq) % RECENT];
        (slot.kept && slot.seq == seq).then_some(slot.number)
    }
}

impl super::Leg {
    /// Sends a copy again (a NACK), as the same bytes as the first time:
    /// with the transport-wide number it first carried (leg/copies.rs
    /// says why). False, and nothing sent, for a copy the leg does not
    /// remember sending. It is marked sent again: see
    /// [`Leg::resend_due`].
    pub fn resend_rtp(
        &mut self,
        now: Instant,
        mut packet: rtc::rtp::Packet,
        clock_rate: u32,
        out: &mut Vec<(Peer, BytesMut)>,
    ) -> bool {
        let h = &packet.header;
        let (ssrc, seq) = (h.ssrc, h.sequence_number);
        let Some(number) = self.copies.number(ssrc, seq) else {
            return false;
        };
        if let Some(number) = number {
            if let Some(twcc) = self.twcc.as_mut() {
                twcc.forget(number);
            }
            crate::bwe::put_number(&mut packet.header, number, &mut self.extensions);
        }
        let sent = self.seal_out(now, packet, clock_rate, out);
        if sent {
            self.copies.resent(ssrc, seq, now);
        }
        sent
    }

    /// Whether the copy `seq` of `ssrc` this leg sent is to go again for
    /// a NACK at `now`: `None` when the leg does not remember it,
    /// `Some(false)` when it went again within `round_trip` (leg/copies.rs
    /// says why).
    pub fn resend_due(
        &mut self,
        ssrc: u32,
        seq: u16,
        now: Instant,
        round_trip: Duration,
    ) -> Option<bool> {
        self.copies.due(ssrc, seq, now, round_trip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_remembered_until_its_slot_is_taken() {
        let mut c = Copies::default();
        assert_eq!(c.number(7, 1), None, "never sent");
        c.sent(7, 1, Some(40));
        c.sent(7, 2, None);
        assert_eq!(c.number(7, 1), Some(Some(40)));
        assert_eq!(c.number(7, 2), Some(None), "sent without a number");
        assert_eq!(c.number(8, 1), None, "another SSRC");
        c.sent(7, 1 + RECENT as u16, Some(41));
        assert_eq!(c.number(7, 1), None, "too long ago");
        assert_eq!(c.number(7, 1 + RECENT as u16), Some(Some(41)));
    }

    #[test]
    fn a_copy_goes_again_at_most_once_a_round_trip() {
        let mut c = Copies::default();
        let t0 = Instant::now();
        let rtt = Duration::from_millis(300);
        assert_eq!(c.due(7, 1, t0, rtt), None, "never sent");
        c.sent(7, 1, Some(40));
        assert_eq!(c.due(7, 1, t0, rtt), Some(true));
        c.resent(7, 1, t0);
        assert_eq!(
            c.due(7, 1, t0 + Duration::from_millis(100), rtt),
            Some(false)
        );
        assert_eq!(c.due(7, 1, t0 + rtt, rtt), Some(true));
        assert_eq!(
            c.due(7, 1, t0, Duration::ZERO),
            Some(true),
            "no round trip known"
        );
        // Sent anew under the same number (the slot taken again): due.
        c.sent(7, 1, Some(41));
        assert_eq!(c.due(7, 1, t0, rtt), Some(true));
    }
}
