//! When to probe a subscriber's link for more (docs/media.md
//! "Bandwidth"). A subscriber's client estimates at most about half again
//! what it receives, and so does the server's own estimate, so a
//! subscriber held to small layers would stay there after its link got
//! better. Now and then, while some video is below what its tile wants,
//! the link is tried with more than the estimate for a moment: either it
//! carries it (no over-use, the estimate does not fall: the estimate
//! becomes what arrived, [`Probe::proven`], and another probe follows
//! soon) or it does not (the next waits twice as long, up to
//! [`PROBE_AT_MOST_EVERY`]).
//!
//! How far past the estimate a probe goes ([`Probe::step`]) is learnt
//! the same way: halved after a probe the link could not carry, doubled
//! after one it carried. A probe past the link's rate fills its queue
//! until the over-use shows, and what the queue cannot hold is lost,
//! media with the padding: a link just found short is tried a little
//! past its estimate, not at twice it.

use std::time::{Duration, Instant};

/// How long a probe runs: long enough for over-use to show (a queue
/// builds within a few hundred milliseconds on a link that cannot carry
/// it) and for what arrived to be measured over half a second.
pub const PROBE_FOR: Duration = Duration::from_millis(1200);
/// The first wait after some video is held, and after over-use: the link
/// was just found short.
pub const PROBE_EVERY: Duration = Duration::from_secs(5);
/// The longest wait, after probes that failed: the time a link that got
/// better may go unnoticed.
pub const PROBE_AT_MOST_EVERY: Duration = Duration::from_secs(8);
/// After a probe the link carried: the next step up.
pub const PROBE_AGAIN: Duration = Duration::from_millis(500);
/// Held, then not held for less than this, is still held: a layer's
/// rate wobbles a subscriber in and out of its band, and that must not
/// start the wait over each time.
const SETTLED: Duration = Duration::from_secs(5);
/// The most a probe asks, as a multiple of the estimate: a doubling at a
/// time reaches a large layer from small ones in a probe or two.
pub const STEP_MOST: f64 = 2.0;
/// The least, for a link that could not carry the probes before: over
/// its estimate by more than the estimate's own error.
pub const STEP_LEAST: f64 = 1.2;

#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    /// Under way: until when, and when and from what estimate it started.
    running: Option<(Instant, Instant, u64)>,
    /// Not before this (after a probe, failed or carried).
    next: Option<Instant>,
    wait: Duration,
    /// Since when some video has been held, and since when none has.
    held_since: Option<Instant>,
    free_since: Option<Instant>,
    proven: bool,
    step: f64,
}

impl Default for Probe {
    fn default() -> Self {
        Self {
            running: None,
            next: None,
            wait: PROBE_EVERY,
            held_since: None,
            free_since: None,
            proven: false,
            step: STEP_MOST,
        }
    }
}

impl Probe {
    /// Whether a probe is under way.
    pub fn running(&self) -> bool {
        self.running.is_some()
    }

    /// The multiple of the estimate the next probe (or the one under
    /// way) asks for, at most.
    pub fn step(&self) -> f64 {
        self.step
    }

    /// Whether a probe is under way now, given the `estimate`, whether
    /// some video is held below its tile's layer, and when the server's
    /// estimator last saw over-use (`None` without one).
    pub fn tick(
        &mut self,
        now: Instant,
        estimate: u64,
        held: bool,
        last_overuse: Option<Instant>,
    ) -> bool {
        if let Some((until, started, from)) = self.running {
            let overused = last_overuse.is_some_and(|at| at >= started);
            if overused || estimate < from.saturating_mul(9) / 10 {
                // The link had no room: back off.
                self.running = None;
                self.wait = (self.wait * 2).min(PROBE_AT_MOST_EVERY);
                self.next = Some(now + self.wait);
                self.step = (1.0 + (self.step - 1.0) / 2.0).max(STEP_LEAST);
                return false;
            }
            if now < until {
                return true;
            }
            self.running = None;
            self.proven = true;
            self.wait = PROBE_EVERY;
            self.step = (1.0 + (self.step - 1.0) * 2.0).min(STEP_MOST);
            self.next = Some(now + PROBE_AGAIN);
            return false;
        }
        if !held {
            let free = *self.free_since.get_or_insert(now);
            if now.saturating_duration_since(free) >= SETTLED {
                self.held_since = None;
            }
            return false;
        }
        self.free_since = None;
        let since = *self.held_since.get_or_insert(now);
        let due = [
            Some(since + PROBE_EVERY),
            self.next,
            last_overuse.map(|at| at + PROBE_EVERY),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(now);
        if now < due {
            return false;
        }
        self.running = Some((now + PROBE_FOR, now, estimate));
        true
    }

    /// Whether a probe ended with the link carrying it, once.
    pub fn proven(&mut self) -> bool {
        std::mem::take(&mut self.proven)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_subscriber_is_probed_and_backs_off_when_the_link_has_no_room() {
        let t0 = Instant::now();
        let mut p = Probe::default();
        assert!(!p.tick(t0, 300_000, false, None), "nothing held: no probe");
        assert!(!p.tick(t0, 300_000, true, None), "just held: not at once");
        let t1 = t0 + PROBE_EVERY;
        assert!(p.tick(t1, 300_000, true, None));
        assert!(p.tick(t1 + Duration::from_secs(1), 320_000, true, None));
        // The estimate falls: the probe ends, the next waits twice as long.
        let t2 = t1 + Duration::from_millis(1100);
        assert!(!p.tick(t2, 250_000, true, None));
        assert!(!p.proven());
        assert!(!p.tick(t2 + PROBE_EVERY, 250_000, true, None));
        let t3 = t2 + PROBE_AT_MOST_EVERY;
        assert!(p.tick(t3, 250_000, true, None));
        // Over-use seen by the server's estimator ends it too, and the
        // wait stops growing at its longest.
        let over = Some(t3 + Duration::from_millis(500));
        assert!(!p.tick(t3 + Duration::from_secs(1), 250_000, true, over));
        let t4 = t3 + Duration::from_secs(1) + PROBE_AT_MOST_EVERY;
        assert!(p.tick(t4, 250_000, true, over));
        // One that holds to its end is proven, once, the next comes soon,
        // and the wait after a failure goes back to the first.
        let t5 = t4 + PROBE_FOR;
        assert!(!p.tick(t5, 400_000, true, over));
        assert!(p.proven());
        assert!(!p.proven());
        assert!(!p.tick(t5 + PROBE_AGAIN / 2, 600_000, true, over));
        assert!(p.tick(t5 + PROBE_AGAIN, 600_000, true, over));
    }

    #[test]
    fn a_link_that_could_not_carry_a_probe_is_tried_closer_to_its_estimate() {
        let t0 = Instant::now();
        let mut p = Probe::default();
        assert_eq!(p.step(), STEP_MOST);
        assert!(!p.tick(t0, 300_000, true, None));
        let mut at = t0 + PROBE_EVERY;
        let fail = |p: &mut Probe, at: &mut Instant| {
            assert!(p.tick(*at, 300_000, true, None));
            let over = Some(*at + Duration::from_millis(300));
            *at += Duration::from_millis(400);
            assert!(!p.tick(*at, 300_000, true, over));
            *at += PROBE_AT_MOST_EVERY + PROBE_EVERY;
        };
        fail(&mut p, &mut at);
        assert_eq!(p.step(), 1.5);
        fail(&mut p, &mut at);
        assert_eq!(p.step(), 1.25);
        fail(&mut p, &mut at);
        assert_eq!(p.step(), STEP_LEAST, "never closer than the least");
        // Carried probes double the step past the estimate back up.
        let carry = |p: &mut Probe, at: &mut Instant| {
            assert!(p.tick(*at, 300_000, true, None));
            *at += PROBE_FOR;
            assert!(!p.tick(*at, 300_000, true, None));
            assert!(p.proven());
            *at += PROBE_AGAIN;
        };
        carry(&mut p, &mut at);
        assert!((p.step() - 1.4).abs() < 1e-9, "{}", p.step());
        carry(&mut p, &mut at);
        assert!((p.step() - 1.8).abs() < 1e-9, "{}", p.step());
        carry(&mut p, &mut at);
        assert_eq!(p.step(), STEP_MOST);
    }

    #[test]
    fn a_moment_out_of_the_band_does_not_start_the_wait_over() {
        let t0 = Instant::now();
        let mut p = Probe::default();
        assert!(!p.tick(t0, 300_000, true, None));
        assert!(!p.tick(t0 + Duration::from_secs(3), 300_000, false, None));
        assert!(p.tick(t0 + PROBE_EVERY, 300_000, true, None));

        // Free for long enough, then held again: the wait starts over.
        let mut p = Probe::default();
        assert!(!p.tick(t0, 300_000, true, None));
        assert!(!p.tick(t0 + Duration::from_secs(1), 300_000, false, None));
        let t1 = t0 + Duration::from_secs(1) + SETTLED;
        assert!(!p.tick(t1, 300_000, false, None));
        assert!(!p.tick(t1, 300_000, true, None));
        assert!(p.tick(t1 + PROBE_EVERY, 300_000, true, None));
    }

    #[test]
    fn no_probe_soon_after_over_use() {
        let t0 = Instant::now();
        let mut p = Probe::default();
        assert!(!p.tick(t0, 300_000, true, None));
        let over = Some(t0 + Duration::from_secs(4));
        assert!(!p.tick(t0 + PROBE_EVERY, 300_000, true, over));
        assert!(p.tick(
            t0 + Duration::from_secs(4) + PROBE_EVERY,
            300_000,
            true,
            over
        ));
    }
}
