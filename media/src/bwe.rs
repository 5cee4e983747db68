//! The server's own estimate of what a subscriber's link carries
//! (docs/media.md "Bandwidth"), in the spirit of Google Congestion Control
//! (draft-ietf-rmcat-gcc-02): every packet a subscribe leg sends carries a
//! transport-wide sequence number; the client's feedback tells when each
//! arrived; a queue building on the path shows as arrivals spreading out
//! more than the sends did, before any packet is lost.
//!
//! - [`Sent`]: a leg's numbers, and what and when it sent under each.
//! - [`Estimator`]: the packets grouped by send time (5 ms), the change in
//!   one-way delay between groups smoothed and its trend taken over the
//!   last 20 (a line through them); the trend, against a threshold that
//!   adapts to the path's own noise, says over-use, under-use or normal.
//!   The rate then follows AIMD: over-use sets it to 85 % of what arrived
//!   in the last half second, normal raises it 8 % a second (no further
//!   than half again what arrives, while sending little tells nothing),
//!   and a tenth or more of the packets lost lowers it by half the loss.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The header extension the numbers go in, and the number the offers give
/// it.
pub const TWCC_URI: &str =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
pub const TWCC_ID: u8 = 3;

/// Every transport-wide number's two bytes, big-endian, so that numbering
/// a packet allocates nothing.
static NUMBERS: [u8; 131_072] = {
    let mut table = [0u8; 131_072];
    let mut i = 0;
    while i < 65_536 {
        table[2 * i] = (i >> 8) as u8;
        table[2 * i + 1] = i as u8;
        i += 1;
    }
    table
};

/// The extension's payload for transport-wide number `seq`.
pub fn number_bytes(seq: u16) -> bytes::Bytes {
    let at = 2 * usize::from(seq);
    bytes::Bytes::from_static(&NUMBERS[at..at + 2])
}

/// Puts transport-wide number `seq` on a copy's `header`. A header with
/// no extensions yet (the forwarder strips the publisher's) takes
/// `spare`'s vector, which the caller takes back once the copy is
/// sealed: `set_extension` allocated one for every copy sent.
pub fn put_number(
    header: &mut rtc::rtp::header::Header,
    seq: u16,
    spare: &mut Vec<rtc::rtp::header::Extension>,
) {
    if header.extension || !header.extensions.is_empty() {
        let _ = header.set_extension(TWCC_ID, number_bytes(seq));
        return;
    }
    let mut extensions = std::mem::take(spare);
    extensions.clear();
    extensions.push(rtc::rtp::header::Extension {
        id: TWCC_ID,
        payload: number_bytes(seq),
    });
    header.extension = true;
    header.extension_profile = ONE_BYTE_PROFILE;
    // One byte of id and length, two of number: one to pad to a word.
    header.extensions_padding = 1;
    header.extensions = extensions;
}

/// RFC 8285's one-byte header extensions.
const ONE_BYTE_PROFILE: u16 = 0xBEDE;

/// Sends remembered: a second of a subscriber getting sixteen cameras
/// (feedback comes every 100 ms or so); 32 KiB a connection.
const RING: usize = 2048;

/// One packet the client reported on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observation {
    pub sent_at: Instant,
    pub size: u32,
    /// When it arrived, in µs of the client's clock; `None`: lost.
    pub arrival_us: Option<i64>,
}

/// One packet sent: when (ns since the ring began), its number and size
/// (0: nothing sent in this slot yet).
#[derive(Clone, Copy, Default)]
struct Slot {
    sent_ns: u64,
    seq: u16,
    size: u16,
}

/// What a leg sent, by transport-wide sequence number.
pub struct Sent {
    next: u16,
    since: Instant,
    ring: Box<[Slot]>,
}

impl Default for Sent {
    fn default() -> Self {
        Self {
            next: 0,
            since: Instant::now(),
            ring: vec![Slot::default(); RING].into_boxed_slice(),
        }
    }
}

impl Sent {
    /// The number for a packet of `size` bytes going out now.
    pub fn stamp(&mut self, now: Instant, size: usize) -> u16 {
        let seq = self.next;
        self.next = self.next.wrapping_add(1);
        self.ring[usize::from(seq) % RING] = Slot {
            sent_ns: now.saturating_duration_since(self.since).as_nanos() as u64,
            seq,
            size: size.clamp(1, usize::from(u16::MAX)) as u16,
        };
        seq
    }

    /// Takes no report on `seq` as telling of the link: its packet went
    /// again under the same number (a NACK), and a report could be of
    /// either sending.
    pub fn forget(&mut self, seq: u16) {
        let slot = &mut self.ring[usize::from(seq) % RING];
        if slot.seq == seq {
            slot.size = 0;
        }
    }

    /// The packet sent under `seq`, as the client reported it; `None`
    /// for a number this leg did not send (or sent too long ago).
    fn observation(&self, seq: u16, arrival_us: Option<i64>) -> Option<Observation> {
        let slot = self.ring[usize::from(seq) % RING];
        (slot.size != 0 && slot.seq == seq).then(|| Observation {
            sent_at: self.since + Duration::from_nanos(slot.sent_ns),
            size: u32::from(slot.size),
            arrival_us,
        })
    }
}

/// What the delay trend says of the path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    Normal,
    Over,
    Under,
}

/// Packets sent within this of a group's first are one group (a frame's
/// packets go out together).
const BURST: Duration = Duration::from_millis(5);
/// Groups the trend is taken over, and its smoothing.
const WINDOW: usize = 20;
const SMOOTHING: f64 = 0.9;
/// The trend's gain, the threshold's start and bounds, and how fast it
/// follows the trend up and down (per ms). The gain and the rates are
/// libwebrtc's; the threshold starts and stays higher than its 12.5 and
/// 6: the server stamps a packet's send time as it queues it, a few ms
/// before the socket takes it, and a busy machine's scheduling reads as
/// delay. A link past its rate builds a queue of many ms per frame, far
/// over either.
const GAIN: f64 = 4.0;
const THRESHOLD: f64 = 40.0;
const THRESHOLD_BOUNDS: (f64, f64) = (20.0, 600.0);
const K_UP: f64 = 0.0087;
const K_DOWN: f64 = 0.039;
/// Over-use is called after it lasted this long over two groups.
const OVERUSE_FOR_MS: f64 = 30.0;
/// What arrived is measured over this.
const ACKED_WINDOW_US: i64 = 500_000;
/// The rate's bounds, its start and its moves.
const MIN_BPS: f64 = 50_000.0;
const MAX_BPS: f64 = 20_000_000.0;
pub const START_BPS: u64 = 2_000_000;
const DECREASE: f64 = 0.85;
const INCREASE_PER_SEC: f64 = 1.08;

#[derive(Clone, Copy, Debug)]
struct Group {
    first_sent: Instant,
    last_sent: Instant,
    last_arrival: i64,
}

/// One subscribe connection's estimate.
pub struct Estimator {
    rate: f64,
    increasing: bool,
    updated: Option<Instant>,
    last_overuse: Option<Instant>,
    group: Option<Group>,
    previous: Option<Group>,
    first_arrival: Option<i64>,
    accumulated: f64,
    smoothed: f64,
    points: VecDeque<(f64, f64)>,
    deltas: u32,
    threshold: f64,
    over_ms: f64,
    over_count: u32,
    last_trend: f64,
    last_threshold_at: Option<f64>,
    usage: Usage,
    acked: VecDeque<(i64, u32)>,
    /// The bytes in `acked`, kept as they come and go.
    acked_bytes: u64,
}

impl Default for Estimator {
    fn default() -> Self {
        Self {
            rate: START_BPS as f64,
            increasing: true,
            updated: None,
            last_overuse: None,
            group: None,
            previous: None,
            first_arrival: None,
            accumulated: 0.0,
            smoothed: 0.0,
            points: VecDeque::with_capacity(WINDOW),
            deltas: 0,
            threshold: THRESHOLD,
            over_ms: -1.0,
            over_count: 0,
            last_trend: 0.0,
            last_threshold_at: None,
            usage: Usage::Normal,
            acked: VecDeque::new(),
            acked_bytes: 0,
        }
    }
}

impl Estimator {
    /// What the link carries, in bit/s, as now estimated.
    pub fn estimate(&self) -> u64 {
        self.rate as u64
    }

    /// When over-use was last seen.
    pub fn last_overuse(&self) -> Option<Instant> {
        self.last_overuse
    }

    /// What arrived over the last half second, in bit/s.
    pub fn acked_bps(&self) -> Option<u64> {
        let (first, last) = (self.acked.front()?.0, self.acked.back()?.0);
        let span = (last - first).max(ACKED_WINDOW_US / 2);
        let bytes = self.acked_bytes;
        Some(bytes * 8 * 1_000_000 / span as u64)
    }

    /// A probe carried `bps` without over-use: the link has that room.
    pub fn proven(&mut self, bps: u64) {
        self.rate = self.rate.max(bps as f64).min(MAX_BPS);
    }

    /// One feedback's packets, in send order.
    pub fn on_feedback(&mut self, observed: &[Observation], now: Instant) {
        let lost = observed.iter().filter(|o| o.arrival_us.is_none()).count();
        for o in observed {
            if let Some(at) = o.arrival_us {
                self.arrived(o.sent_at, at, o.size, now);
            }
        }
        self.update(now, lost, observed.len());
    }

    fn arrived(&mut self, sent: Instant, at: i64, size: u32, now: Instant) {
        self.acked.push_back((at, size));
        self.acked_bytes += u64::from(size);
        while let Some(&(t, s)) = self.acked.front() {
            if at - t <= ACKED_WINDOW_US {
                break;
            }
            self.acked_bytes -= u64::from(s);
            self.acked.pop_front();
        }
        let first_arrival = *self.first_arrival.get_or_insert(at);
        match &mut self.group {
            Some(g) if sent.saturating_duration_since(g.first_sent) <= BURST => {
                g.last_sent = g.last_sent.max(sent);
                g.last_arrival = g.last_arrival.max(at);
            }
            Some(_) | None => {
                if let Some(done) = self.group.take() {
                    if let Some(prev) = self.previous.replace(done) {
                        self.delta(prev, done, first_arrival, now);
                    }
                }
                self.group = Some(Group {
                    first_sent: sent,
                    last_sent: sent,
                    last_arrival: at,
                });
            }
        }
    }

    /// Two consecutive groups: the change in one-way delay between them,
    /// into the trend and the detector.
    fn delta(&mut self, prev: Group, group: Group, first_arrival: i64, now: Instant) {
        let send_ms = group
            .last_sent
            .saturating_duration_since(prev.last_sent)
            .as_secs_f64()
            * 1000.0;
        let arrival_ms = (group.last_arrival - prev.last_arrival) as f64 / 1000.0;
        // Reordered groups say nothing of a queue.
        if arrival_ms < 0.0 {
            return;
        }
        self.deltas = self.deltas.saturating_add(1);
        self.accumulated += arrival_ms - send_ms;
        self.smoothed = SMOOTHING * self.smoothed + (1.0 - SMOOTHING) * self.accumulated;
        let x = (group.last_arrival - first_arrival) as f64 / 1000.0;
        self.points.push_back((x, self.smoothed));
        if self.points.len() > WINDOW {
            self.points.pop_front();
        }
        let slope = if self.points.len() == WINDOW {
            slope(&self.points).unwrap_or(0.0)
        } else {
            0.0
        };
        let trend = f64::from(self.deltas.min(60)) * slope * GAIN;
        self.detect(trend, send_ms, x, now);
    }

    fn detect(&mut self, trend: f64, send_ms: f64, at_ms: f64, now: Instant) {
        if self.deltas < 2 {
            return;
        }
        if trend > self.threshold {
            self.over_ms = if self.over_ms < 0.0 {
                send_ms / 2.0
            } else {
                self.over_ms + send_ms
            };
            self.over_count += 1;
            if self.over_ms > OVERUSE_FOR_MS && self.over_count > 1 && trend >= self.last_trend {
                self.over_ms = 0.0;
                self.over_count = 0;
                self.usage = Usage::Over;
                self.last_overuse = Some(now);
            }
        } else if trend < -self.threshold {
            self.over_ms = -1.0;
            self.over_count = 0;
            self.usage = Usage::Under;
        } else {
            self.over_ms = -1.0;
            self.over_count = 0;
            self.usage = Usage::Normal;
        }
        self.last_trend = trend;
        // The threshold follows the trend's size, slowly up and faster
        // down, but not a spike far past it.
        let dt = self
            .last_threshold_at
            .map_or(0.0, |t| (at_ms - t).clamp(0.0, 100.0));
        self.last_threshold_at = Some(at_ms);
        if trend.abs() <= self.threshold + 15.0 {
            let k = if trend.abs() < self.threshold {
                K_DOWN
            } else {
                K_UP
            };
            self.threshold += k * (trend.abs() - self.threshold) * dt;
            self.threshold = self.threshold.clamp(THRESHOLD_BOUNDS.0, THRESHOLD_BOUNDS.1);
        }
    }

    fn update(&mut self, now: Instant, lost: usize, reported: usize) {
        let dt = self.updated.map_or(0.0, |t| {
            now.saturating_duration_since(t).as_secs_f64().min(1.0)
        });
        self.updated = Some(now);
        let acked = self.acked_bps().map(|b| b as f64);
        match self.usage {
            Usage::Over => {
                self.rate = acked.map_or(self.rate * DECREASE, |a| (a * DECREASE).min(self.rate));
                self.increasing = false;
                // Acted on: the next over-use must be seen again.
                self.usage = Usage::Normal;
            }
            Usage::Under => self.increasing = false,
            Usage::Normal if !self.increasing => self.increasing = true,
            Usage::Normal => {
                let raised = self.rate * INCREASE_PER_SEC.powf(dt);
                // Sending little says nothing of the link: no further than
                // half again what arrives.
                let cap = acked.map_or(f64::MAX, |a| a * 1.5 + 10_000.0);
                self.rate = if self.rate > cap {
                    self.rate
                } else {
                    raised.min(cap)
                };
            }
        }
        if reported >= 20 {
            let loss = lost as f64 / reported as f64;
            if loss > 0.1 {
                self.rate *= 1.0 - 0.5 * loss;
            }
        }
        self.rate = self.rate.clamp(MIN_BPS, MAX_BPS);
    }
}

/// The least-squares slope of `points`, in one pass: the sums are taken
/// of each point less the first, a window's span (a second or so of ms),
/// so nothing is lost to the arrival times' or the delays' size.
fn slope(points: &VecDeque<(f64, f64)>) -> Option<f64> {
    let (x0, y0) = *points.front()?;
    let n = points.len() as f64;
    let (mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0);
    for &(x, y) in points {
        let (x, y) = (x - x0, y - y0);
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
    }
    let den = n * sxx - sx * sx;
    (den > 0.0).then(|| (n * sxy - sx * sy) / den)
}

mod twcc;
pub use twcc::is_feedback;

#[cfg(test)]
mod tests;
