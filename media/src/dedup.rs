//! Drops RTP packets already forwarded: a publisher answering a NACK sends
//! the same sequence number again, and every subscriber would otherwise get
//! it twice (their own NACKs are answered by the server's sender).

/// A window over the last 1,024 sequence numbers.
#[derive(Debug, Default)]
pub struct SeqWindow {
    highest: Option<u16>,
    /// Bit `seq % SIZE` set: `seq` (within the window) was seen. Indexed
    /// by the number itself, so a step forward clears the bits it passes
    /// over instead of moving every bit (that move was 2 % of the
    /// server's time, once for every packet a publisher sent).
    seen: [u64; 16],
}

const SIZE: u16 = 1024;

impl SeqWindow {
    /// True the first time `seq` is offered, false for a repeat or a
    /// packet too old to tell.
    pub fn fresh(&mut self, seq: u16) -> bool {
        let Some(highest) = self.highest else {
            self.highest = Some(seq);
            self.set(seq);
            return true;
        };
        let ahead = seq.wrapping_sub(highest);
        if ahead == 0 {
            return false;
        }
        if ahead < 0x8000 {
            // Newer: the numbers passed over leave the window's far end.
            if ahead >= SIZE {
                self.seen = [0; 16];
            } else {
                for k in 1..=ahead {
                    self.clear(highest.wrapping_add(k));
                }
            }
            self.highest = Some(seq);
            self.set(seq);
            return true;
        }
        if highest.wrapping_sub(seq) >= SIZE || self.get(seq) {
            return false;
        }
        self.set(seq);
        true
    }

    fn get(&self, seq: u16) -> bool {
        let i = seq % SIZE;
        self.seen[usize::from(i / 64)] & (1 << (i % 64)) != 0
    }

    fn set(&mut self, seq: u16) {
        let i = seq % SIZE;
        self.seen[usize::from(i / 64)] |= 1 << (i % 64);
    }

    fn clear(&mut self, seq: u16) {
        let i = seq % SIZE;
        self.seen[usize::from(i / 64)] &= !(1 << (i % 64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_dropped_and_late_packets_kept_once() {
        let mut w = SeqWindow::default();
        assert!(w.fresh(10));
        assert!(!w.fresh(10));
        assert!(w.fresh(12));
        assert!(w.fresh(11), "late but new");
        assert!(!w.fresh(11), "a retransmit of a late one");
        assert!(!w.fresh(12));
    }

    #[test]
    fn the_window_survives_wraparound() {
        let mut w = SeqWindow::default();
        assert!(w.fresh(65534));
        assert!(w.fresh(65535));
        assert!(w.fresh(0));
        assert!(w.fresh(1));
        assert!(!w.fresh(65535));
        assert!(!w.fresh(0));
    }

    #[test]
    fn far_too_old_is_refused_and_a_jump_resets() {
        let mut w = SeqWindow::default();
        assert!(w.fresh(5000));
        assert!(!w.fresh(5000 - 2000), "older than the window");
        assert!(w.fresh(9000));
        assert!(w.fresh(8999));
        assert!(!w.fresh(9000));
    }

    #[test]
    fn it_agrees_with_a_set_of_the_numbers_seen() {
        // A publisher's numbers: mostly in order, some late, some
        // repeated, now and then a jump; across the wrap more than once.
        let mut w = SeqWindow::default();
        let mut seen = std::collections::HashSet::new();
        let mut highest: Option<u16> = None;
        let mut state = 0x2545_f491_u32;
        let mut next = 60_000u16;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let seq = match state % 100 {
                0..=79 => {
                    next = next.wrapping_add(1);
                    next
                }
                80..=89 => next.wrapping_sub((state >> 8) as u16 % 40),
                90..=97 => next.wrapping_sub((state >> 8) as u16 % 1200),
                _ => {
                    next = next.wrapping_add((state >> 8) as u16 % 3000);
                    next
                }
            };
            let expected = match highest {
                None => true,
                Some(h) => {
                    let ahead = seq.wrapping_sub(h);
                    if ahead == 0 {
                        false
                    } else if ahead < 0x8000 {
                        true
                    } else {
                        h.wrapping_sub(seq) < SIZE && !seen.contains(&seq)
                    }
                }
            };
            if let Some(h) = highest {
                let ahead = seq.wrapping_sub(h);
                if ahead != 0 && ahead < 0x8000 {
                    highest = Some(seq);
                    // Only what is still in the window counts.
                    seen.retain(|&s| seq.wrapping_sub(s) < SIZE);
                }
            } else {
                highest = Some(seq);
            }
            if expected {
                seen.insert(seq);
            }
            assert_eq!(w.fresh(seq), expected, "{seq} after {highest:?}");
        }
    }
}
