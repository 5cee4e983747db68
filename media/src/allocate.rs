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
/// again what it receives, so a subscriber held to small layers would
/// stay there after its link got better. Now and then, while some video
/// is below what its tile wants, the allocation is made with more than
/// the estimate for a few seconds: the client receives more, and either
/// its estimate grows to match (the link had room: the larger layers stay)
/// or it falls (they go, and the next probe waits twice as long).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// Under way: until when, and the estimate it started from.
    running: Option<(std::time::Instant, u64)>,
    next: Option<std::time::Instant>,
    wait: std::time::Duration,
}

/// How long a probe runs, and the first and longest wait between probes.
pub const PROBE_FOR: std::time::Duration = std::time::Duration::from_secs(3);
pub const PROBE_EVERY: std::time::Duration = std::time::Duration::from_secs(6);
pub const PROBE_AT_MOST_EVERY: std::time::Duration = std::time::Duration::from_secs(48);

impl Default for Probe {
    fn default() -> Self {
        Self {
            running: None,
            next: None,
            wait: PROBE_EVERY,
        }
    }
}

impl Probe {
    /// The factor the budget is multiplied by now, given the client's
    /// `estimate` and whether some video is held below its tile's layer.
    pub fn factor(&mut self, now: std::time::Instant, estimate: u64, held: bool) -> f64 {
        if let Some((until, from)) = self.running {
            if estimate < from.saturating_mul(9) / 10 {
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
            self.wait = PROBE_EVERY;
            self.next = Some(now + self.wait);
            return 1.0;
        }
        let next = *self.next.get_or_insert(now + self.wait);
        if held && now >= next {
            self.running = Some((now + PROBE_FOR, estimate));
            return 1.5;
        }
        1.0
    }
}

#[cfg(test)]
mod probe_tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_held_subscriber_is_probed_and_backs_off_when_the_estimate_falls() {
        let t0 = Instant::now();
        let mut p = Probe::default();
        assert_eq!(p.factor(t0, 300_000, true), 1.0, "not at once");
        let t1 = t0 + PROBE_EVERY;
        assert_eq!(p.factor(t1, 300_000, false), 1.0, "nothing held: no probe");
        assert_eq!(p.factor(t1, 300_000, true), 1.5);
        assert_eq!(p.factor(t1 + Duration::from_secs(1), 320_000, true), 1.5);
        // The estimate falls: the probe ends, the next waits twice as long.
        assert_eq!(p.factor(t1 + Duration::from_secs(2), 250_000, true), 1.0);
        let t2 = t1 + Duration::from_secs(2);
        assert_eq!(p.factor(t2 + PROBE_EVERY, 250_000, true), 1.0);
        assert_eq!(p.factor(t2 + PROBE_EVERY * 2, 250_000, true), 1.5);
        // One that holds to its end: the wait goes back to the first.
        let t3 = t2 + PROBE_EVERY * 2 + PROBE_FOR;
        assert_eq!(p.factor(t3, 400_000, true), 1.0);
        assert_eq!(p.factor(t3 + PROBE_EVERY, 600_000, true), 1.5);
    }
}
