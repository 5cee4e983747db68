//! Drops RTP packets already forwarded: a publisher answering a NACK sends
//! the same sequence number again, and every subscriber would otherwise get
//! it twice (their own NACKs are answered by the server's sender).

/// A window over the last 1,024 sequence numbers.
#[derive(Debug, Default)]
pub struct SeqWindow {
    highest: Option<u16>,
    /// Bit `i` set: `highest - i` was seen.
    seen: [u64; 16],
}

const SIZE: u16 = 1024;

impl SeqWindow {
    /// True the first time `seq` is offered, false for a repeat or a
    /// packet too old to tell.
    pub fn fresh(&mut self, seq: u16) -> bool {
        let Some(highest) = self.highest else {
            self.highest = Some(seq);
            self.set(0);
            return true;
        };
        let ahead = seq.wrapping_sub(highest);
        if ahead == 0 {
            return false;
        }
        if ahead < 0x8000 {
            // Newer: slide the window forward.
            self.shift(ahead);
            self.highest = Some(seq);
            self.set(0);
            return true;
        }
        let behind = highest.wrapping_sub(seq);
        if behind >= SIZE {
            return false;
        }
        if self.get(behind) {
            return false;
        }
        self.set(behind);
        true
    }

    fn get(&self, i: u16) -> bool {
        self.seen[(i / 64) as usize] & (1 << (i % 64)) != 0
    }

    fn set(&mut self, i: u16) {
        self.seen[(i / 64) as usize] |= 1 << (i % 64);
    }

    fn shift(&mut self, by: u16) {
        if by >= SIZE {
            self.seen = [0; 16];
            return;
        }
        let mut next = [0u64; 16];
        for i in 0..SIZE - by {
            if self.get(i) {
                let j = i + by;
                next[(j / 64) as usize] |= 1 << (j % 64);
            }
        }
        self.seen = next;
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
}
