//! What one subscriber watches of one forwarded video track (docs/media.md,
//! "What a subscriber watches" and "Simulcast"): whether its tile shows,
//! and which of the publisher's layers it gets.
//!
//! A tile the page hides, or scrolls out of sight, is sent nothing. Shown
//! again, it waits for the publisher's next keyframe (asked for at once),
//! so its decoder starts from a whole picture rather than from references
//! it never got. A move to another layer (a simulcast publisher sends up to
//! three, each its own stream) waits for a keyframe of that layer, the old
//! one flowing until then. Either way the subscriber sees one stream: its
//! sequence numbers run on without a gap (a gap would read as loss and
//! bring NACKs for packets it was never meant to have), and at a change of
//! layer its timestamps go on from the last ones by the time that passed,
//! as the layers' clocks have bases of their own.

use std::time::Instant;

use crate::vp8;

/// The last copy sent: the numbers the next segment goes on from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sent {
    seq: u16,
    ts: u32,
    at: Instant,
}

/// One subscription's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    hidden: bool,
    /// The layer the server chose for it (index into the track's
    /// layers); `None`: paused, nothing fits.
    target: Option<usize>,
    /// The layer being sent.
    current: Option<usize>,
    /// Shown or resumed again, and no keyframe of the target has started
    /// since: nothing is sent until one does.
    awaiting_keyframe: bool,
    /// Added to a layer packet's numbers to make the subscriber's, for the
    /// segment being sent.
    seq_offset: u16,
    ts_offset: u32,
    last: Option<Sent>,
    /// The subscriber's sequence number of the first copy of the segment
    /// being sent: copies before it were numbered with other offsets.
    shown_from: Option<u16>,
    /// The layer's own number of that copy: a packet of the layer older
    /// than it (reordered on the way in) is not sent, as its number would
    /// be one already used.
    from_seq: u16,
    /// Added to a layer packet's VP8 picture numbers, for the segment
    /// being sent (crate::vp8: they run on across layers too).
    pictures: vp8::Shift,
    /// The last picture numbers sent, as the subscriber got them.
    last_ids: vp8::Ids,
}

/// What one copy goes out as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Numbered {
    pub seq: u16,
    pub ts: u32,
    /// The first copy from another layer than the last (for the counters).
    pub switched: bool,
    /// What its VP8 picture numbers are shifted by.
    pub pictures: vp8::Shift,
}

impl Watch {
    /// A subscription that starts hidden (the page hid the tile before
    /// the track arrived) or shown, on layer 0 until told otherwise.
    pub fn new(hidden: bool) -> Self {
        Self {
            hidden,
            target: Some(0),
            current: None,
            awaiting_keyframe: false,
            seq_offset: 0,
            ts_offset: 0,
            last: None,
            shown_from: None,
            from_seq: 0,
            pictures: vp8::Shift::default(),
            last_ids: vp8::Ids::default(),
        }
    }

    pub fn hidden(&self) -> bool {
        self.hidden
    }

    pub fn target(&self) -> Option<usize> {
        self.target
    }

    /// The layer being sent, if any is.
    pub fn current(&self) -> Option<usize> {
        self.current
            .filter(|_| !self.hidden && !self.awaiting_keyframe && self.target.is_some())
    }

    /// The layer whose keyframe this subscription waits for: shown or
    /// resumed again, or moving to another layer.
    pub fn awaiting_keyframe(&self) -> Option<usize> {
        let target = self.target.filter(|_| !self.hidden)?;
        (self.awaiting_keyframe || self.current != Some(target)).then_some(target)
    }

    /// Shows or hides the tile; answers whether a keyframe is needed now
    /// (shown after being hidden).
    pub fn set_visible(&mut self, visible: bool) -> bool {
        match (visible, self.hidden) {
            (true, true) => {
                self.hidden = false;
                self.awaiting_keyframe = true;
                self.target.is_some()
            }
            (false, _) => {
                self.hidden = true;
                self.awaiting_keyframe = false;
                false
            }
            (true, false) => false,
        }
    }

    /// The layer to send from now on (`None`: pause); answers whether a
    /// keyframe of it is needed. `down`: the move is to a smaller layer,
    /// whose keyframe is waited for with nothing flowing, as a move down is
    /// made for a link that cannot carry the larger one.
    pub fn set_target(&mut self, target: Option<usize>, down: bool) -> bool {
        if target == self.target {
            return false;
        }
        let resumed = self.target.is_none() && self.last.is_some();
        self.target = target;
        if target.is_none() || self.hidden {
            return false;
        }
        if resumed || (down && self.current.is_some() && self.current != target) {
            self.awaiting_keyframe = true;
        }
        self.awaiting_keyframe || self.current != target
    }

    /// A copy of the packet numbered `seq` with timestamp `ts` on `layer`
    /// (as the track admitted it): the numbers this subscriber gets it
    /// under, or `None` when it is not sent. `clock_rate` turns the time
    /// since the last copy into timestamp ticks at a change of layer.
    /// `ids`: the packet's VP8 picture numbers, where it has them.
    #[allow(clippy::too_many_arguments)]
    pub fn admit(
        &mut self,
        layer: usize,
        seq: u16,
        ts: u32,
        ids: vp8::Ids,
        starts_keyframe: bool,
        now: Instant,
        clock_rate: u32,
    ) -> Option<Numbered> {
        let want = self.target.filter(|_| !self.hidden)?;
        let starting = self.awaiting_keyframe || self.current != Some(want);
        let mut switched = false;
        if layer == want && starting {
            // The very first copy needs no keyframe: nothing came before
            // it, and the decoder asks for one itself.
            let first = self.last.is_none() && !self.awaiting_keyframe;
            if !(starts_keyframe || first) {
                return None;
            }
            switched = self.current.is_some_and(|c| c != layer);
            if switched {
                self.pictures = ids.shift_after(self.last_ids);
            }
            self.start(layer, seq, ts, now, clock_rate);
        } else if self.current != Some(layer)
            || self.awaiting_keyframe
            || (seq.wrapping_sub(self.from_seq) as i16) < 0
        {
            return None;
        }
        // Numbers wrap: the segment's start is kept within half the
        // number space behind, or a long segment would read as older than
        // its own start.
        if seq.wrapping_sub(self.from_seq) > 0x4000 {
            self.from_seq = seq.wrapping_sub(0x2000);
            self.shown_from = Some(seq.wrapping_sub(0x2000).wrapping_add(self.seq_offset));
        }
        let out = Numbered {
            seq: seq.wrapping_add(self.seq_offset),
            ts: ts.wrapping_add(self.ts_offset),
            switched,
            pictures: self.pictures,
        };
        let sent = ids.shifted(self.pictures);
        self.last_ids = vp8::Ids {
            picture: sent.picture.or(self.last_ids.picture),
            tl0: sent.tl0.or(self.last_ids.tl0),
        };
        self.last = Some(Sent {
            seq: out.seq,
            ts: out.ts,
            at: now,
        });
        Some(out)
    }

    /// Starts a segment on `layer` at this packet: its numbers follow the
    /// last copy's.
    fn start(&mut self, layer: usize, seq: u16, ts: u32, now: Instant, clock_rate: u32) {
        let (out_seq, out_ts) = match self.last {
            None => (seq, ts),
            // The same layer: the same clock, and the time that went by
            // is in its timestamps already.
            Some(last) if self.current == Some(layer) => {
                (last.seq.wrapping_add(1), ts.wrapping_add(self.ts_offset))
            }
            Some(last) => {
                let ticks = now.saturating_duration_since(last.at).as_micros()
                    * u128::from(clock_rate)
                    / 1_000_000;
                let ticks = u32::try_from(ticks).unwrap_or(u32::MAX).max(1);
                (last.seq.wrapping_add(1), last.ts.wrapping_add(ticks))
            }
        };
        self.seq_offset = out_seq.wrapping_sub(seq);
        self.ts_offset = out_ts.wrapping_sub(ts);
        self.current = Some(layer);
        self.awaiting_keyframe = false;
        self.shown_from = Some(out_seq);
        self.from_seq = seq;
    }

    /// The layer and the layer's number of a copy the subscriber reports
    /// lost under its own number `seq`, if it was sent in the segment
    /// being sent.
    pub fn resend(&self, seq: u16) -> Option<(usize, u16)> {
        let layer = self.current()?;
        if let Some(from) = self.shown_from {
            if (seq.wrapping_sub(from) as i16) < 0 {
                return None;
            }
        }
        Some((layer, seq.wrapping_sub(self.seq_offset)))
    }

    /// What the segment being sent shifts VP8 picture numbers by.
    pub fn pictures(&self) -> vp8::Shift {
        self.pictures
    }

    /// The subscriber's timestamp for a layer packet's `ts`, in the
    /// segment being sent.
    pub fn timestamp(&self, ts: u32) -> u32 {
        ts.wrapping_add(self.ts_offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Runs `packets` (layer, seq, ts, keyframe) through `w` at `now`:
    /// what was sent, as the subscriber numbers it.
    fn run(w: &mut Watch, now: Instant, packets: &[(usize, u16, u32, bool)]) -> Vec<(u16, u32)> {
        packets
            .iter()
            .filter_map(|&(l, s, t, k)| w.admit(l, s, t, vp8::Ids::default(), k, now, 90_000))
            .map(|n| (n.seq, n.ts))
            .collect()
    }

    /// One layer: (seq, keyframe), the timestamp the sequence number.
    fn one(w: &mut Watch, packets: &[(u16, bool)]) -> Vec<u16> {
        let now = Instant::now();
        packets
            .iter()
            .filter_map(|&(s, k)| w.admit(0, s, u32::from(s), vp8::Ids::default(), k, now, 90_000))
            .map(|n| n.seq)
            .collect()
    }

    #[test]
    fn hidden_sends_nothing_and_shown_again_starts_at_a_keyframe_without_a_gap() {
        let mut w = Watch::new(false);
        assert_eq!(
            one(&mut w, &[(65534, true), (65535, false)]),
            [65534, 65535]
        );
        assert!(!w.set_visible(false));
        assert_eq!(
            one(&mut w, &[(0, false), (1, true), (2, false)]),
            [] as [u16; 0]
        );
        assert!(w.set_visible(true), "a keyframe is asked for");
        assert!(!w.set_visible(true), "only once");
        assert_eq!(w.awaiting_keyframe(), Some(0));
        // Waits for the keyframe, then numbers on from where it stopped.
        assert_eq!(
            one(&mut w, &[(3, false), (4, true), (5, false)]),
            [0, 1],
            "65535 was the last it got"
        );
        assert_eq!(w.awaiting_keyframe(), None);
        assert_eq!(
            one(&mut w, &[(3, false)]),
            [] as [u16; 0],
            "a late packet from before the keyframe"
        );
        assert_eq!(w.resend(1), Some((0, 5)));
        assert_eq!(w.resend(0), Some((0, 4)));
        assert_eq!(w.resend(65535), None, "numbered before it was hidden");
        w.set_visible(false);
        assert_eq!(w.resend(1), None, "nothing again while hidden");
    }

    #[test]
    fn a_long_segment_runs_through_the_wrap_of_its_numbers() {
        let mut w = Watch::new(false);
        let mut sent = 0;
        for i in 0..200_000u32 {
            let seq = (i % 65536) as u16;
            if w.admit(
                0,
                seq,
                i,
                vp8::Ids::default(),
                i == 0,
                Instant::now(),
                90_000,
            )
            .is_some()
            {
                sent += 1;
            }
        }
        assert_eq!(sent, 200_000, "every packet of the one segment is sent");
        assert_eq!(
            w.resend(199_999u32 as u16 - 5),
            Some((0, (199_999u32 - 5) as u16))
        );
    }

    #[test]
    fn a_subscription_may_start_hidden() {
        let mut w = Watch::new(true);
        assert!(w.hidden());
        assert_eq!(one(&mut w, &[(10, true)]), [] as [u16; 0]);
        assert!(w.set_visible(true));
        assert_eq!(one(&mut w, &[(11, false), (12, true)]), [12]);
    }

    #[test]
    fn a_move_to_another_layer_waits_for_its_keyframe_and_runs_on_without_a_gap() {
        let t0 = Instant::now();
        let mut w = Watch::new(false);
        // Layer 0 and layer 1 have numbers and clocks of their own.
        assert_eq!(
            run(
                &mut w,
                t0,
                &[
                    (0, 100, 5000, false),
                    (1, 7000, 90_000, true),
                    (0, 101, 5000, false)
                ]
            ),
            [(100, 5000), (101, 5000)],
            "the first copy needs no keyframe; layer 1 is not sent"
        );
        assert!(
            w.set_target(Some(1), false),
            "a keyframe of layer 1 is needed"
        );
        assert_eq!(w.awaiting_keyframe(), Some(1));
        let t1 = t0 + Duration::from_millis(40);
        assert_eq!(
            run(
                &mut w,
                t1,
                &[(0, 102, 8000, false), (1, 7001, 93_000, false)]
            ),
            [(102, 8000)],
            "the old layer flows until the new one's keyframe"
        );
        let t2 = t1 + Duration::from_millis(10);
        let got = run(
            &mut w,
            t2,
            &[
                (1, 7002, 93_900, true),
                (0, 103, 8900, false),
                (1, 7003, 94_800, false),
            ],
        );
        // 10 ms after the last copy: 900 ticks of 90 kHz.
        assert_eq!(got, [(103, 8900), (104, 9800)], "numbers and time run on");
        assert_eq!(w.current(), Some(1));
        assert_eq!(w.resend(104), Some((1, 7003)));
        assert_eq!(w.resend(102), None, "sent from the other layer");
        assert_eq!(w.timestamp(94_800), 9800);

        // Down to layer 0: nothing flows until its keyframe.
        assert!(w.set_target(Some(0), true));
        assert_eq!(
            run(
                &mut w,
                t2,
                &[(1, 7004, 95_600, false), (0, 104, 9000, false)]
            ),
            []
        );
        // At the same instant: one tick on.
        let first = w
            .admit(0, 105, 9900, vp8::Ids::default(), true, t2, 90_000)
            .unwrap();
        assert_eq!((first.seq, first.ts, first.switched), (105, 9801, true));
        let next = w
            .admit(0, 106, 9900, vp8::Ids::default(), false, t2, 90_000)
            .unwrap();
        assert!(!next.switched, "only the first copy of the new layer");
        assert!(w.set_target(Some(1), false));
        assert_eq!(run(&mut w, t2, &[(1, 7005, 95_700, true)]), [(107, 9802)]);

        // Paused (nothing fits), then resumed: a keyframe again.
        assert!(!w.set_target(None, true));
        assert_eq!(run(&mut w, t2, &[(1, 7004, 95_700, true)]), []);
        assert_eq!(
            w.awaiting_keyframe(),
            None,
            "a paused one waits for nothing"
        );
        assert!(w.set_target(Some(1), false));
        assert_eq!(run(&mut w, t2, &[(1, 7006, 96_600, false)]), []);
        // The same layer as before the pause: its own clock goes on.
        assert_eq!(run(&mut w, t2, &[(1, 7007, 97_500, true)]), [(108, 11_602)]);
    }

    #[test]
    fn picture_numbers_run_on_across_a_switch_and_stay_on_a_resume() {
        let now = Instant::now();
        let ids = |picture: u16, tl0: u8| vp8::Ids {
            picture: Some((picture, true)),
            tl0: Some(tl0),
        };
        let mut w = Watch::new(false);
        let sent = |w: &mut Watch, l, seq, id: vp8::Ids, key| {
            w.admit(l, seq, u32::from(seq) * 3000, id, key, now, 90_000)
                .map(|n| id.shifted(n.pictures))
        };
        assert_eq!(sent(&mut w, 0, 10, ids(500, 7), true), Some(ids(500, 7)));
        assert_eq!(sent(&mut w, 0, 11, ids(501, 7), false), Some(ids(501, 7)));
        // To layer 1, whose numbers are its own: they run on from 501.
        assert!(w.set_target(Some(1), false));
        assert_eq!(
            sent(&mut w, 1, 900, ids(30_000, 200), true),
            Some(ids(502, 8))
        );
        assert_eq!(
            sent(&mut w, 1, 901, ids(30_001, 201), false),
            Some(ids(503, 9))
        );
        assert_eq!(w.pictures(), ids(30_000, 200).shift_after(ids(501, 7)));
        // Hidden and shown again on the same layer: the same shift.
        w.set_visible(false);
        w.set_visible(true);
        assert_eq!(
            sent(&mut w, 1, 950, ids(30_050, 220), true),
            Some(ids(552, 28))
        );
        // Back to layer 0.
        assert!(w.set_target(Some(0), true));
        assert_eq!(sent(&mut w, 0, 60, ids(560, 30), true), Some(ids(553, 29)));
    }
}
