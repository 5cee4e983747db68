//! How well media reaches each participant and comes from each: for a
//! moderator's indicator and `/metrics`.
//!
//! Receiving: each subscriber's client reports, per stream, the packets
//! it never got (RFC 3550 §6.4.2, cumulative, so a packet repaired by a
//! NACK counts as got) and, against the server's sender reports, the
//! round trip. Sending: the server counts the gaps in what each publisher
//! sends it. A packet lost on the way in is missing for every subscriber
//! too, so each subscriber's loss is counted less what its stream's
//! publisher lost on the way in: each hop is blamed for its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use conclave_actors::media::QualityLevel as Level;
use rtc::rtcp::reception_report::ReceptionReport;

use crate::published::Counters;

/// The weight of a new window's figure: about the last three windows
/// count.
const SMOOTHING: f64 = 0.5;

/// A window with fewer packets than this says nothing of loss.
const MIN_PACKETS: i64 = 20;

/// Where the words change. Video copes with a few percent lost through
/// NACKs and audio conceals it; past a tenth both visibly suffer. A
/// round trip under 300 ms goes unnoticed in talk; past 600 ms people
/// talk over each other.
const FAIR_LOSS: f64 = 0.03;
const POOR_LOSS: f64 = 0.10;
const FAIR_RTT: Duration = Duration::from_millis(300);
const POOR_RTT: Duration = Duration::from_millis(600);

fn smooth(old: Option<f64>, new: f64) -> f64 {
    old.map_or(new, |o| o + SMOOTHING * (new - o))
}

/// The word for a loss (0 to 1) and a round trip.
pub fn level(loss: f64, rtt: Option<Duration>) -> Level {
    let rtt = rtt.unwrap_or_default();
    if loss >= POOR_LOSS || rtt >= POOR_RTT {
        Level::Poor
    } else if loss >= FAIR_LOSS || rtt >= FAIR_RTT {
        Level::Fair
    } else {
        Level::Good
    }
}

/// The packets of one incoming stream (a publisher's layer): how many its
/// sequence numbers say were sent, and how many came.
#[derive(Clone, Debug, Default)]
pub struct Arrivals {
    /// The extended highest sequence number and the first.
    highest: Option<u64>,
    first: u64,
    received: u64,
    /// Expected and received at the last window's end.
    mark: (u64, u64),
    loss: Option<f64>,
}

impl Arrivals {
    /// A packet came (not a repeat).
    pub fn heard(&mut self, seq: u16) {
        self.received += 1;
        let Some(highest) = self.highest else {
            // Far from zero, so a packet from before the first fits.
            let at = (1 << 32) + u64::from(seq);
            (self.highest, self.first) = (Some(at), at);
            return;
        };
        let ahead = seq.wrapping_sub(highest as u16) as i16;
        if ahead > 0 {
            self.highest = Some(highest + ahead as u64);
        } else if highest.wrapping_add_signed(i64::from(ahead)) < self.first {
            self.first = highest.wrapping_add_signed(i64::from(ahead));
        }
    }

    fn expected(&self) -> u64 {
        self.highest.map_or(0, |h| h - self.first + 1)
    }

    /// Ends a window: the share of its packets that never came, smoothed.
    pub fn tick(&mut self) {
        let (expected, received) = (self.expected(), self.received);
        let d_expected = expected.saturating_sub(self.mark.0) as i64;
        if d_expected < MIN_PACKETS {
            return;
        }
        let d_received = received.saturating_sub(self.mark.1) as i64;
        let lost = (d_expected - d_received).max(0) as f64 / d_expected as f64;
        self.loss = Some(smooth(self.loss, lost.min(1.0)));
        self.mark = (expected, received);
    }

    /// The smoothed loss, 0 to 1, once a window had packets enough.
    pub fn loss(&self) -> Option<f64> {
        self.loss
    }
}

/// One stream a subscriber reports on. A client reports its audio less
/// often than its video (Chromium: every 5 s against every second or
/// less), so each stream keeps its own figure, from windows of at least
/// [`MIN_PACKETS`] of its own.
#[derive(Clone, Debug)]
struct Reported {
    ssrc: u32,
    /// The last block's extended highest sequence number and cumulative
    /// loss.
    last: Option<(u32, i64)>,
    /// Since the window began.
    expected: i64,
    lost: i64,
    loss: Option<f64>,
}

/// One subscribe connection's reception, as its client reports it.
#[derive(Clone, Debug, Default)]
pub struct Reception {
    streams: Vec<Reported>,
    /// Smoothed round trip, once a report answered one of ours.
    rtt: Option<Duration>,
}

impl Reception {
    /// One receiver report's blocks, heard at `wall`. `ours` tells the
    /// SSRCs this connection sends: a block on anything else is ignored.
    pub fn heard(
        &mut self,
        blocks: &[ReceptionReport],
        wall: SystemTime,
        ours: impl Fn(u32) -> bool,
        counters: &Counters,
    ) {
        for b in blocks.iter().filter(|b| ours(b.ssrc)) {
            // A 24-bit signed count: duplicates can make it negative.
            let lost = i64::from(((b.total_lost << 8) as i32) >> 8);
            let i = match self.streams.iter().position(|s| s.ssrc == b.ssrc) {
                Some(i) => i,
                None => {
                    self.streams.push(Reported {
                        ssrc: b.ssrc,
                        last: None,
                        expected: 0,
                        lost: 0,
                        loss: None,
                    });
                    self.streams.len() - 1
                }
            };
            let s = &mut self.streams[i];
            if let Some((seq, was)) = s.last {
                let d = i64::from(b.last_sequence_number.wrapping_sub(seq) as i32);
                // Reports crossed on the way, or the client started over.
                if (0..1 << 16).contains(&d) {
                    s.expected += d;
                    s.lost += lost - was;
                }
                if s.expected >= MIN_PACKETS {
                    let share = s.lost.max(0) as f64 / s.expected as f64;
                    s.loss = Some(smooth(s.loss, share.min(1.0)));
                    (s.expected, s.lost) = (0, 0);
                }
            }
            s.last = Some((b.last_sequence_number, lost));
            counters.reception(f64::from(b.fraction_lost) / 256.0);
            if let Some(r) = round_trip(wall, b.last_sender_report, b.delay) {
                counters.round_trip(r);
                self.rtt = Some(match self.rtt {
                    None => r,
                    Some(old) => old.mul_f64(1.0 - SMOOTHING) + r.mul_f64(SMOOTHING),
                });
            }
        }
    }

    /// Stops counting a stream it is no longer sent.
    pub fn forget(&mut self, ssrc: u32) {
        self.streams.retain(|s| s.ssrc != ssrc);
    }

    /// The share lost on the way from the server, 0 to 1: the worst
    /// stream's, less what its publisher lost on the way in (`upstream`);
    /// once a stream had packets enough.
    pub fn loss(&self, upstream: impl Fn(u32) -> f64) -> Option<f64> {
        self.streams
            .iter()
            .filter_map(|s| Some((s.loss? - upstream(s.ssrc)).max(0.0)))
            .reduce(f64::max)
    }

    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }
}

/// The round trip a report block measures (RFC 3550 §6.4.1): now, less
/// when our sender report went out (`lsr`, the middle 32 bits of its NTP
/// time), less how long the client held it (`dlsr`), in 1/65536 s.
pub fn round_trip(wall: SystemTime, lsr: u32, dlsr: u32) -> Option<Duration> {
    if lsr == 0 {
        return None;
    }
    let now = (crate::leg::reports::ntp(wall) >> 16) as u32;
    let units = now.wrapping_sub(lsr).wrapping_sub(dlsr);
    // A clock step or a report from before ours reads as a huge wrap.
    (units < 60 << 16).then(|| Duration::from_micros((u64::from(units) * 1_000_000) >> 16))
}

impl Counters {
    /// One report block's loss (its fraction since the last), into the
    /// bands `/metrics` shows.
    fn reception(&self, loss: f64) {
        let bands = [
            &self.reports_loss_low,
            &self.reports_loss_mid,
            &self.reports_loss_high,
        ];
        band(loss, FAIR_LOSS, POOR_LOSS, bands).fetch_add(1, Ordering::Relaxed);
    }

    fn round_trip(&self, rtt: Duration) {
        let bands = [
            &self.reports_rtt_low,
            &self.reports_rtt_mid,
            &self.reports_rtt_high,
        ];
        band(rtt, FAIR_RTT, POOR_RTT, bands).fetch_add(1, Ordering::Relaxed);
    }
}

/// The band `value` falls in: under `fair`, under `poor`, or past it.
fn band<T: PartialOrd>(value: T, fair: T, poor: T, bands: [&AtomicU64; 3]) -> &AtomicU64 {
    match value {
        v if v < fair => bands[0],
        v if v < poor => bands[1],
        _ => bands[2],
    }
}

/// What a video subscription is sent, for `/metrics`: nothing because
/// its tile is hidden, nothing because its bandwidth has no room, the
/// smallest, a middle or the largest of a simulcast track's layers, or
/// the one stream of a track without simulcast.
pub const LAYER_STATES: [&str; 6] = [
    "hidden", "paused", "smallest", "middle", "largest", "single",
];

/// One room's share of [`Counters::subscriptions`]: each count is replaced
/// by the room's new one, and taken back when the room's forwarder ends
/// (or fails), so the totals stay those of the rooms open.
pub struct LayerTally {
    counters: std::sync::Arc<Counters>,
    last: [i64; 6],
}

impl LayerTally {
    pub fn new(counters: std::sync::Arc<Counters>) -> Self {
        Self {
            counters,
            last: [0; 6],
        }
    }

    /// This room's counts now, in the order of [`LAYER_STATES`].
    pub fn set(&mut self, now: [i64; 6]) {
        for (i, (n, was)) in now.iter().zip(&mut self.last).enumerate() {
            self.counters.subscriptions[i].fetch_add(n - *was, Ordering::Relaxed);
            *was = *n;
        }
    }
}

impl Drop for LayerTally {
    fn drop(&mut self) {
        self.set([0; 6]);
    }
}

#[cfg(test)]
mod tests;
