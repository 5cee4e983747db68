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
}

/// What one copy goes out as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Numbered {
    pub seq: u16,
    pub ts: u32,
    /// The first copy from another layer than the last (for the counters).
    pub switched: bool,
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
    pub fn admit(
        &mut self,
        layer: usize,
        seq: u16,
        ts: u32,
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

    /// The subscriber's timestamp for a layer packet's `ts`, in the
    /// segment being sent.
    pub fn timestamp(&self, ts: u32) -> u32 {
        ts.wrapping_add(self.ts_offset)
    }
}

/// Where the VP8 frame starts in an RTP payload that starts partition 0
/// (S set, partition index 0), past the payload descriptor (RFC 7741).
fn vp8_frame_start(payload: &[u8]) -> Option<usize> {
    let first = *payload.first()?;
    if first & 0x10 == 0 || first & 0x07 != 0 {
        return None;
    }
    let mut at = 1;
    if first & 0x80 != 0 {
        let ext = *payload.get(at)?;
        at += 1;
        if ext & 0x80 != 0 {
            // PictureID: 7 bits, or 15 with M set.
            let long = payload.get(at).is_some_and(|b| b & 0x80 != 0);
            at += if long { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            at += 1;
        }
        if ext & 0x30 != 0 {
            at += 1;
        }
    }
    Some(at)
}

/// Whether a VP8 RTP payload starts a keyframe: the start of a partition
/// (S set, partition 0) whose frame header's P bit is clear (RFC 7741).
pub fn starts_vp8_keyframe(payload: &[u8]) -> bool {
    vp8_frame_start(payload)
        .and_then(|at| payload.get(at))
        .is_some_and(|b| b & 0x01 == 0)
}

/// The picture height a VP8 keyframe's first packet gives (RFC 6386
/// §9.1: after the 3-byte frame tag, the start code 9d 01 2a, then width
/// and height, 14 bits each, little-endian, under two scaling bits).
pub fn vp8_keyframe_height(payload: &[u8]) -> Option<u16> {
    let at = vp8_frame_start(payload)?;
    let frame = payload.get(at..at + 10)?;
    if frame[0] & 0x01 != 0 || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    Some(u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff)
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
            .filter_map(|&(l, s, t, k)| w.admit(l, s, t, k, now, 90_000))
            .map(|n| (n.seq, n.ts))
            .collect()
    }

    /// One layer: (seq, keyframe), the timestamp the sequence number.
    fn one(w: &mut Watch, packets: &[(u16, bool)]) -> Vec<u16> {
        let now = Instant::now();
        packets
            .iter()
            .filter_map(|&(s, k)| w.admit(0, s, u32::from(s), k, now, 90_000))
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
            if w.admit(0, seq, i, i == 0, Instant::now(), 90_000).is_some() {
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
        let first = w.admit(0, 105, 9900, true, t2, 90_000).unwrap();
        assert_eq!((first.seq, first.ts, first.switched), (105, 9801, true));
        let next = w.admit(0, 106, 9900, false, t2, 90_000).unwrap();
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
    fn vp8_keyframes_are_found_behind_any_descriptor() {
        // S, partition 0, no extension; frame header P clear: a keyframe.
        assert!(starts_vp8_keyframe(&[0x10, 0x00, 0x9d]));
        assert!(!starts_vp8_keyframe(&[0x10, 0x01]), "an interframe");
        assert!(!starts_vp8_keyframe(&[0x00, 0x00]), "not a partition start");
        assert!(!starts_vp8_keyframe(&[0x11, 0x00]), "partition 1");
        // X with a 15-bit PictureID, TL0PICIDX and TID/KEYIDX.
        assert!(starts_vp8_keyframe(&[
            0x90, 0xe0, 0x81, 0x02, 0x05, 0x20, 0x00
        ]));
        assert!(!starts_vp8_keyframe(&[
            0x90, 0xe0, 0x81, 0x02, 0x05, 0x20, 0x01
        ]));
        // X with a 7-bit PictureID only.
        assert!(starts_vp8_keyframe(&[0x90, 0x80, 0x05, 0x00]));
        assert!(!starts_vp8_keyframe(&[0x90, 0x80]), "cut short");
        assert!(!starts_vp8_keyframe(&[]));
    }

    #[test]
    fn a_keyframe_tells_its_height() {
        // Descriptor (no extension), tag (keyframe), start code, 640 x 360
        // (scaling bits set, to be ignored).
        let key = [
            0x10, 0x50, 0x2a, 0x01, 0x9d, 0x01, 0x2a, 0x80, 0x42, 0x68, 0x41,
        ];
        assert_eq!(vp8_keyframe_height(&key), Some(360));
        let mut inter = key;
        inter[1] |= 0x01;
        assert_eq!(vp8_keyframe_height(&inter), None, "an interframe");
        assert_eq!(vp8_keyframe_height(&key[..8]), None, "cut short");
        let mut wrong = key;
        wrong[5] = 0;
        assert_eq!(vp8_keyframe_height(&wrong), None, "no start code");
    }
}
