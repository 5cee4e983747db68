//! Padding to probe a subscriber's link with (docs/media.md "Bandwidth"):
//! padding-only RTP packets on a stream of their own, paced to a rate for
//! a while. They carry transport-wide numbers like media, so the
//! estimator sees whether the link carries media and padding together;
//! the client decodes nothing of them (the stream is in the offer, with no
//! media stream, so a page shows no tile for it).

use std::time::{Duration, Instant};

/// Padding per packet: the most an RTP padding length can say.
pub const PADDING: usize = 255;
/// How often paced packets go out.
pub const TICK: Duration = Duration::from_millis(5);

pub struct Prober {
    pub ssrc: u32,
    seq: u16,
    /// Until when, at what rate (bit/s), and the bits owed so far.
    running: Option<(Instant, u64)>,
    owed: f64,
    next: Option<Instant>,
    /// When padding was last taken.
    last: Option<Instant>,
}

impl Prober {
    pub fn new(ssrc: u32) -> Self {
        Self {
            ssrc,
            seq: 0,
            running: None,
            owed: 0.0,
            next: None,
            last: None,
        }
    }

    /// Pads at `bps` until `until`; 0 stops.
    pub fn start(&mut self, now: Instant, bps: u64, until: Instant) {
        if bps == 0 {
            self.running = None;
            self.next = None;
            self.last = None;
            self.owed = 0.0;
            return;
        }
        self.running = Some((until, bps));
        self.next.get_or_insert(now);
    }

    pub fn due(&self) -> Option<Instant> {
        self.next
    }

    /// The sequence numbers of the packets due at `now`, each of
    /// `packet_bits` on the wire.
    pub fn take(&mut self, now: Instant, packet_bits: u64) -> Vec<u16> {
        let (Some((until, bps)), Some(next)) = (self.running, self.next) else {
            return Vec::new();
        };
        if now < next {
            return Vec::new();
        }
        if now >= until {
            self.running = None;
            self.next = None;
            self.last = None;
            self.owed = 0.0;
            return Vec::new();
        }
        // What the time since the last owes (a busy forwarder wakes late,
        // and the rate is the rate), but no burst past four ticks'.
        let since = self
            .last
            .map_or(TICK, |last| now.saturating_duration_since(last))
            .min(TICK * 4);
        self.last = Some(now);
        self.owed = (self.owed + bps as f64 * since.as_secs_f64()).min(bps as f64 * 0.02);
        let n = (self.owed / packet_bits as f64).floor() as u64;
        self.owed -= (n * packet_bits) as f64;
        self.next = Some(now + TICK);
        (0..n)
            .map(|_| {
                self.seq = self.seq.wrapping_add(1);
                self.seq
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_is_paced_to_the_rate_until_the_end() {
        let t0 = Instant::now();
        let mut p = Prober::new(9);
        assert_eq!(p.due(), None);
        p.start(t0, 880_000, t0 + Duration::from_millis(100));
        let mut sent = 0;
        let mut at = t0;
        while let Some(next) = p.due() {
            at = next;
            sent += p.take(at, 2_200).len();
        }
        // 100 ms at 880 kbit/s: 88 kbit, 40 packets of 2,200 bits.
        assert!((38..=40).contains(&sent), "{sent}");
        assert!(at >= t0 + Duration::from_millis(100));
        // Woken every 15 ms instead of 5: the same rate.
        let mut late = Prober::new(9);
        late.start(t0, 880_000, t0 + Duration::from_millis(100));
        let (mut sent_late, mut at) = (0, t0);
        while late.due().is_some() {
            sent_late += late.take(at, 2_200).len();
            at += Duration::from_millis(15);
        }
        assert!((36..=40).contains(&sent_late), "{sent_late}");
        let at = t0 + Duration::from_millis(100);
        // Numbers run on.
        p.start(at, 880_000, at + Duration::from_millis(20));
        let more = p.take(at, 2_200);
        assert_eq!(more.first().copied(), Some(sent as u16 + 1));
        p.start(at, 0, at);
        assert_eq!(p.due(), None, "stopped");
    }
}
