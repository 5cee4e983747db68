//! A jitter buffer: a stream's frames in, ordered by RTP sequence number,
//! one out per 20 ms tick. Playing starts once `TARGET` frames wait; a
//! frame that comes after its turn is dropped as late; a short gap is
//! reported lost (the decoder conceals it), a long one (a pause, an outage)
//! skips ahead so the stream does not lag behind for good; and frames
//! piling up beyond the target (a burst after a stall) are dropped
//! oldest-first until the delay is back to the target. A smaller excess that
//! stands for a second (the network calmed after a burst) is trimmed a
//! frame at a time.

use std::collections::BTreeMap;

/// Frames waiting before playing starts: 20 ms of buffering beyond the
/// tick's own phase. Loopback and LAN callers need no more; see
/// docs/phone.md for why the delay is kept this low.
const TARGET: usize = 1;
/// Frames waiting beyond the target before the oldest is dropped.
const SLACK: usize = 2;
/// The most frames kept (200 ms): a burst beyond this drops the oldest.
const MAX: usize = 10;
/// Missing frames reported lost one by one; a longer gap is skipped.
const CONCEAL: u64 = 2;
/// Ticks in a row with more than the target waiting (a second) before the
/// oldest is dropped: a delay a past burst left standing shrinks back, one
/// frame a second, while jitter that needs the depth (some tick finds the
/// buffer at the target or under) keeps it.
const STANDING: u32 = 50;

/// What a tick gets from the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Out<T> {
    Frame(T),
    /// The frame due is missing but later ones are here: conceal it.
    Lost,
    /// Nothing to play (not started, or the stream paused).
    Empty,
}

/// Counts since the buffer was made.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub played: u64,
    pub lost: u64,
    pub late: u64,
    /// Dropped to keep the delay down.
    pub dropped: u64,
}

pub struct Jitter<T> {
    frames: BTreeMap<u64, T>,
    next: Option<u64>,
    /// The highest sequence number seen, extended past wraps.
    highest: Option<u64>,
    /// Ticks in a row that found more than the target waiting.
    standing: u32,
    pub stats: Stats,
}

impl<T> Default for Jitter<T> {
    fn default() -> Self {
        Self {
            frames: BTreeMap::new(),
            next: None,
            highest: None,
            standing: 0,
            stats: Stats::default(),
        }
    }
}

impl<T> Jitter<T> {
    /// Extends a 16-bit sequence number to the one nearest the highest seen.
    fn extend(&mut self, seq: u16) -> u64 {
        let Some(h) = self.highest else {
            // Room below for reordering around the first packet.
            let first = (1u64 << 32) + u64::from(seq);
            self.highest = Some(first);
            return first;
        };
        let delta = seq.wrapping_sub(h as u16) as i16;
        let ext = h.wrapping_add_signed(i64::from(delta));
        if ext > h {
            self.highest = Some(ext);
        }
        ext
    }

    pub fn push(&mut self, seq: u16, frame: T) {
        let ext = self.extend(seq);
        if self.next.is_some_and(|n| ext < n) || self.frames.contains_key(&ext) {
            self.stats.late += 1;
            return;
        }
        self.frames.insert(ext, frame);
        while self.frames.len() > MAX {
            self.frames.pop_first();
            self.stats.dropped += 1;
        }
    }

    /// The frame for this tick.
    pub fn pop(&mut self) -> Out<T> {
        let mut next = match self.next {
            Some(n) => n,
            None if self.frames.len() >= TARGET => match self.frames.keys().next() {
                Some(&first) => first,
                None => return Out::Empty,
            },
            None => return Out::Empty,
        };
        // A delay that stands: one frame less, once a second.
        self.standing = if self.frames.len() > TARGET {
            self.standing + 1
        } else {
            0
        };
        if self.standing >= STANDING && self.frames.len() > TARGET {
            self.standing = 0;
            self.frames.pop_first();
            self.stats.dropped += 1;
            if let Some(&first) = self.frames.keys().next() {
                next = next.max(first);
            }
        }
        // A burst after a stall: catch up rather than stay late.
        if self.frames.len() > TARGET + SLACK {
            while self.frames.len() > TARGET + SLACK {
                self.frames.pop_first();
                self.stats.dropped += 1;
            }
            if let Some(&first) = self.frames.keys().next() {
                next = next.max(first);
            }
        }
        let Some((&first, _)) = self.frames.first_key_value() else {
            self.next = Some(next);
            return Out::Empty;
        };
        if first == next {
            self.next = Some(next + 1);
            self.stats.played += 1;
            let frame = self.frames.pop_first().map(|(_, f)| f);
            return frame.map_or(Out::Empty, Out::Frame);
        }
        let gap = first - next;
        if gap <= CONCEAL {
            self.next = Some(next + 1);
            self.stats.lost += 1;
            return Out::Lost;
        }
        // A long gap: what was missed is gone; play on from what is here.
        self.stats.lost += gap;
        self.next = Some(first + 1);
        self.stats.played += 1;
        self.frames
            .pop_first()
            .map_or(Out::Empty, |(_, f)| Out::Frame(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(j: &mut Jitter<u16>, ticks: usize) -> Vec<Out<u16>> {
        (0..ticks).map(|_| j.pop()).collect()
    }

    #[test]
    fn reordered_frames_play_in_order() {
        let mut j = Jitter::default();
        j.push(10, 10);
        assert_eq!(j.pop(), Out::Frame(10));
        j.push(12, 12);
        j.push(11, 11);
        assert_eq!(
            run(&mut j, 3),
            vec![Out::Frame(11), Out::Frame(12), Out::Empty]
        );
        j.push(13, 13);
        assert_eq!(j.pop(), Out::Frame(13));
        assert_eq!(j.stats.played, 4);
    }

    #[test]
    fn a_short_gap_is_concealed_and_a_late_frame_dropped() {
        let mut j = Jitter::default();
        j.push(1, 1);
        assert_eq!(j.pop(), Out::Frame(1));
        j.push(3, 3);
        assert_eq!(j.pop(), Out::Lost, "2 is missing, 3 is here");
        j.push(2, 2);
        assert_eq!(j.pop(), Out::Frame(3));
        assert_eq!(j.stats.late, 1, "2 came after its turn");
        assert_eq!(j.stats.lost, 1);
    }

    #[test]
    fn a_long_gap_skips_ahead_and_sequence_numbers_wrap() {
        let mut j = Jitter::default();
        j.push(65534, 1);
        assert_eq!(j.pop(), Out::Frame(1));
        j.push(65535, 2);
        j.push(0, 3);
        assert_eq!(run(&mut j, 1), vec![Out::Frame(2)]);
        assert_eq!(run(&mut j, 1), vec![Out::Frame(3)]);
        // An outage of 50 frames: no second of concealment, the next frame plays.
        j.push(51, 4);
        assert_eq!(j.pop(), Out::Frame(4));
        assert_eq!(j.stats.lost, 50);
    }

    #[test]
    fn a_burst_is_cut_back_to_the_target_delay() {
        let mut j = Jitter::default();
        j.push(0, 0);
        assert_eq!(j.pop(), Out::Frame(0));
        for s in 1..=8 {
            j.push(s, s);
        }
        // Eight waiting: played from the newest few, not 160 ms late.
        let out = j.pop();
        assert_eq!(out, Out::Frame(6));
        assert_eq!(j.stats.dropped, 5);
        assert_eq!(j.stats.lost, 0, "dropped, not lost");
        assert_eq!(
            run(&mut j, 3),
            vec![Out::Frame(7), Out::Frame(8), Out::Empty]
        );
    }

    #[test]
    fn a_standing_delay_shrinks_a_frame_a_second_and_needed_depth_stays() {
        // Two frames waiting at every tick (one arrives per tick): after a
        // second, one is dropped and the delay is back to the target.
        let mut j = Jitter::default();
        j.push(0, 0);
        j.push(1, 1);
        for seq in 2..STANDING as u16 + 7 {
            assert!(matches!(j.pop(), Out::Frame(_)));
            j.push(seq, seq);
        }
        assert_eq!(j.stats.dropped, 1);
        assert_eq!(j.frames.len(), TARGET);
        // Jitter that empties the buffer now and then: nothing is dropped.
        let mut j = Jitter::default();
        j.push(0, 0);
        let mut seq = 1;
        for tick in 0..10 * STANDING {
            j.pop();
            // Two frames on even ticks, none on odd ones.
            if tick % 2 == 0 {
                j.push(seq, seq);
                j.push(seq + 1, seq + 1);
                seq += 2;
            }
        }
        assert_eq!(j.stats.dropped, 0);
    }

    #[test]
    fn nothing_plays_before_the_first_frame() {
        let mut j: Jitter<u16> = Jitter::default();
        assert_eq!(j.pop(), Out::Empty);
        j.push(7, 7);
        j.push(7, 7);
        assert_eq!(j.pop(), Out::Frame(7));
        assert_eq!(j.stats.late, 1, "a repeat counts as late");
    }
}
