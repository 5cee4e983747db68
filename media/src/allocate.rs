//! Dividing what one subscriber can receive among its videos
//! (docs/media.md "Bandwidth"): audio first (taken off before this), then
//! each video in order of priority (a shared screen, the active speaker,
//! the rest) at its smallest layer, then, in the same order, each raised
//! to the largest layer that still fits. A video whose smallest layer does
//! not fit is paused rather than letting every video stutter.

/// One video a subscriber gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Want {
    /// Lower goes first: 0 a shared screen, 1 the active speaker, 2 the
    /// rest.
    pub priority: u8,
    /// The layers it may have (up to the one that fills its tile), each
    /// with what it costs in bit/s, smallest first.
    pub layers: Vec<(usize, u64)>,
}

/// The layer each video gets (`None`: paused), in the order of `wants`:
/// the smallest layers within `keep` bit/s, then raised within `budget`
/// in all. `keep` may be above `budget`: a paused video is a frozen
/// picture, and the smallest layers are kept past what a cautious
/// estimate would allow.
pub fn allocate(keep: u64, budget: u64, wants: &[Want]) -> Vec<Option<usize>> {
    let mut order: Vec<usize> = (0..wants.len()).collect();
    // Stable: equal priorities keep the subscriber's order.
    order.sort_by_key(|&i| wants[i].priority);
    let mut chosen: Vec<Option<usize>> = vec![None; wants.len()];
    let mut cost = vec![0u64; wants.len()];
    let mut kept = keep;
    for &i in &order {
        if let Some(&(layer, bps)) = wants[i].layers.first() {
            if bps <= kept {
                kept -= bps;
                chosen[i] = Some(layer);
                cost[i] = bps;
            }
        }
    }
    let mut left = budget.saturating_sub(cost.iter().sum());
    for &i in &order {
        if chosen[i].is_none() {
            continue;
        }
        let mut best = None;
        for &(layer, bps) in wants[i].layers.iter().skip(1) {
            if bps >= cost[i] && bps - cost[i] <= left {
                best = Some((layer, bps));
            }
        }
        if let Some((layer, bps)) = best {
            left -= bps - cost[i];
            chosen[i] = Some(layer);
            cost[i] = bps;
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(priority: u8, layers: &[(usize, u64)]) -> Want {
        Want {
            priority,
            layers: layers.to_vec(),
        }
    }

    #[test]
    fn everything_fits_each_gets_its_largest() {
        let wants = [
            want(2, &[(0, 100_000), (1, 300_000)]),
            want(2, &[(1, 150_000), (0, 600_000)]),
        ];
        assert_eq!(
            allocate(2_000_000, 2_000_000, &wants),
            vec![Some(1), Some(0)]
        );
    }

    #[test]
    fn the_smallest_layers_first_then_raised_in_priority_order() {
        let wants = [
            want(2, &[(0, 100_000), (1, 300_000), (2, 900_000)]),
            want(1, &[(0, 100_000), (1, 300_000), (2, 900_000)]),
            want(0, &[(0, 200_000)]),
        ];
        // 200 + 100 + 100 first; 200k left raises the speaker to its middle.
        assert_eq!(
            allocate(600_000, 600_000, &wants),
            vec![Some(0), Some(1), Some(0)]
        );
        // Not even every smallest: the last in priority is paused.
        assert_eq!(
            allocate(350_000, 350_000, &wants),
            vec![None, Some(0), Some(0)]
        );
        assert_eq!(allocate(0, 0, &wants), vec![None, None, None]);
        // The smallest kept past the budget, and nothing raised.
        assert_eq!(
            allocate(450_000, 350_000, &wants),
            vec![Some(0), Some(0), Some(0)]
        );
    }

    #[test]
    fn a_layer_not_measured_yet_costs_nothing_and_none_is_no_video() {
        let wants = [want(2, &[(0, 0), (1, 0)]), want(2, &[])];
        assert_eq!(allocate(10, 10, &wants), vec![Some(1), None]);
    }
}

/// Probing upward: a subscriber's client estimates at most about half
/// again what it receives, and so does the server's own estimate, so a
/// subscriber held to small layers would stay there after its link got
/// better. Now and then, while some video is below what its tile wants,
/// the allocation is made with more than the estimate for a few seconds:
/// either the link carries it (no over-use, the estimate does not fall:
/// the larger layers stay, [`Probe::proven`]) or it does not (they go,
/// and the next probe waits twice as long, up to
/// [`PROBE_AT_MOST_EVERY`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// Under way: until when, and when and from what estimate it started.
    running: Option<(std::time::Instant, std::time::Instant, u64)>,
    next: Option<std::time::Instant>,
    wait: std::time::Duration,
    held: bool,
    proven: bool,
}

/// How long a probe runs, and the first and longest wait between probes.
pub const PROBE_FOR: std::time::Duration = std::time::Duration::from_secs(3);
pub const PROBE_EVERY: std::time::Duration = std::time::Duration::from_secs(6);
pub const PROBE_AT_MOST_EVERY: std::time::Duration = std::time::Duration::from_secs(12);
/// After a probe the link carried.
pub const PROBE_AGAIN: std::time::Duration = std::time::Duration::from_secs(1);

impl Probe {
    /// Whether a probe is under way.
    pub fn running(&self) -> bool {
        self.running.is_some()
    }
}

impl Default for Probe {
    fn default() -> Self {
        Self {
            running: None,
            next: None,
            wait: PROBE_EVERY,
            held: false,
            proven: false,
        }
    }
}

impl Probe {
    /// The factor the budget is multiplied by now, given the `estimate`,
    /// whether some video is held below its tile's layer, and when the
    /// server's estimator last saw over-use (`None` without one).
    pub fn factor(
        &mut self,
        now: std::time::Instant,
        estimate: u64,
        held: bool,
        last_overuse: Option<std::time::Instant>,
    ) -> f64 {
        if let Some((until, started, from)) = self.running {
            let overused = last_overuse.is_some_and(|at| at >= started);
            if overused || estimate < from.saturating_mul(9) / 10 {
                // The link had no room: back off.
                self.running = None;
                self.wait = (self.wait * 2).min(PROBE_AT_MOST_EVERY);
                self.next = Some(now + self.wait);
                return 1.0;
            }
            if now < until {
                return 1.5;
            }
            self.running = None;
            self.proven = true;
            self.wait = PROBE_EVERY;
            // The link had room: up again soon, while still held.
            self.next = Some(now + PROBE_AGAIN);
            return 1.0;
        }
        if !held {
            self.held = false;
            return 1.0;
        }
        // Just held (the link was found short): not straight back up.
        if !self.held {
            self.held = true;
            let after = now + self.wait;
            self.next = Some(self.next.map_or(after, |n| n.max(after)));
        }
        if self.next.is_some_and(|next| now >= next) {
            self.running = Some((now + PROBE_FOR, now, estimate));
            return 1.5;
        }
        1.0
    }

    /// Whether a probe ended with the link carrying it, once.
    pub fn proven(&mut self) -> bool {
        std::mem::take(&mut self.proven)
    }
}

#[cfg(test)]
mod probe_tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_held_subscriber_is_probed_and_backs_off_when_the_link_has_no_room() {
        let t0 = Instant::now();
        let mut p = Probe::default();
        assert_eq!(
            p.factor(t0, 300_000, false, None),
            1.0,
            "nothing held: no probe"
        );
        assert_eq!(
            p.factor(t0, 300_000, true, None),
            1.0,
            "just held: not at once"
        );
        let t1 = t0 + PROBE_EVERY;
        assert_eq!(p.factor(t1, 300_000, true, None), 1.5);
        assert_eq!(
            p.factor(t1 + Duration::from_secs(1), 320_000, true, None),
            1.5
        );
        // The estimate falls: the probe ends, the next waits twice as long.
        assert_eq!(
            p.factor(t1 + Duration::from_secs(2), 250_000, true, None),
            1.0
        );
        assert!(!p.proven());
        let t2 = t1 + Duration::from_secs(2);
        assert_eq!(p.factor(t2 + PROBE_EVERY, 250_000, true, None), 1.0);
        assert_eq!(p.factor(t2 + PROBE_EVERY * 2, 250_000, true, None), 1.5);
        // Over-use seen by the server's estimator ends it too, and the
        // wait stops growing at its longest.
        let t3 = t2 + PROBE_EVERY * 2;
        let over = Some(t3 + Duration::from_millis(500));
        assert_eq!(
            p.factor(t3 + Duration::from_secs(1), 250_000, true, over),
            1.0
        );
        let t4 = t3 + Duration::from_secs(1) + PROBE_AT_MOST_EVERY;
        assert_eq!(p.factor(t4, 250_000, true, over), 1.5);
        // One that holds to its end is proven, once, the next comes soon,
        // and the wait after a failure goes back to the first.
        let t5 = t4 + PROBE_FOR;
        assert_eq!(p.factor(t5, 400_000, true, over), 1.0);
        assert!(p.proven());
        assert!(!p.proven());
        assert_eq!(p.factor(t5 + PROBE_AGAIN, 600_000, true, over), 1.5);
    }
}
