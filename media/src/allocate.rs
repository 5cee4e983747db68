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
    /// The layer it gets now, if any: among equals, the video already
    /// raised is raised first, so that room for one large layer does not
    /// pass from video to video (each move waits for a keyframe).
    pub has: Option<usize>,
}

impl Want {
    /// Where the layer it gets now ranks among its layers (0: paused or
    /// gone, 1: the smallest, ...).
    fn held_at(&self) -> usize {
        self.has
            .and_then(|h| self.layers.iter().position(|(l, _)| *l == h))
            .map_or(0, |p| p + 1)
    }
}

/// The layer each video gets (`None`: paused), in the order of `wants`:
/// the smallest layers within `keep` bit/s, then raised within `budget`
/// in all. `keep` may be above `budget`: a paused video is a frozen
/// picture, and the smallest layers are kept past what a cautious
/// estimate would allow.
pub fn allocate(keep: u64, budget: u64, wants: &[Want]) -> Vec<Option<usize>> {
    let mut order: Vec<usize> = (0..wants.len()).collect();
    // Stable: equal priorities and layers keep the subscriber's order.
    order.sort_by_key(|&i| (wants[i].priority, std::cmp::Reverse(wants[i].held_at())));
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
            has: None,
        }
    }

    #[test]
    fn room_for_one_large_layer_stays_with_the_video_that_has_it() {
        let mut wants = [
            want(2, &[(0, 100_000), (1, 400_000)]),
            want(2, &[(0, 100_000), (1, 400_000)]),
        ];
        assert_eq!(allocate(700_000, 700_000, &wants), vec![Some(1), Some(0)]);
        wants[1].has = Some(1);
        wants[0].has = Some(0);
        assert_eq!(allocate(700_000, 700_000, &wants), vec![Some(0), Some(1)]);
        // The active speaker still comes first.
        wants[0].priority = 1;
        assert_eq!(allocate(700_000, 700_000, &wants), vec![Some(1), Some(0)]);
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
