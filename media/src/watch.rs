//! What one subscriber watches of one forwarded video track (docs/media.md,
//! "What a subscriber watches"). A tile the page hides, or scrolls out of
//! sight, is sent nothing. Shown again, it waits for the publisher's next
//! keyframe (asked for at once), so its decoder starts from a whole
//! picture rather than from references it never got. The copies it was not
//! sent are renumbered past, so its sequence numbers run on without a gap
//! (a gap would read as loss and bring NACKs for packets it was never
//! meant to have); its timestamps jump, as time went by.

/// One subscription's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Watch {
    hidden: bool,
    /// Shown again, and no keyframe has started since.
    awaiting_keyframe: bool,
    /// Copies not sent, which the sequence numbers run past.
    skipped: u16,
    /// The subscriber's sequence number of the first copy since it was
    /// last shown: copies before it were numbered with another offset.
    shown_from: Option<u16>,
}

impl Watch {
    /// A subscription that starts hidden (the page hid the tile before
    /// the track arrived) or shown.
    pub fn new(hidden: bool) -> Self {
        Self {
            hidden,
            ..Self::default()
        }
    }

    pub fn hidden(&self) -> bool {
        self.hidden
    }

    /// Shown again, and waiting for a keyframe.
    pub fn awaiting_keyframe(&self) -> bool {
        self.awaiting_keyframe
    }

    /// Shows or hides the tile; answers whether a keyframe is needed now
    /// (shown after being hidden).
    pub fn set_visible(&mut self, visible: bool) -> bool {
        match (visible, self.hidden) {
            (true, true) => {
                self.hidden = false;
                self.awaiting_keyframe = true;
                true
            }
            (false, _) => {
                self.hidden = true;
                self.awaiting_keyframe = false;
                false
            }
            (true, false) => false,
        }
    }

    /// A copy of the packet numbered `seq` (as the track admitted it):
    /// the number this subscriber gets it under, or `None` when it is not
    /// sent (hidden, or shown and waiting for a keyframe that this packet
    /// does not start).
    pub fn admit(&mut self, seq: u16, starts_keyframe: bool) -> Option<u16> {
        if self.hidden || (self.awaiting_keyframe && !starts_keyframe) {
            self.skipped = self.skipped.wrapping_add(1);
            return None;
        }
        let out = seq.wrapping_sub(self.skipped);
        if std::mem::take(&mut self.awaiting_keyframe) {
            self.shown_from = Some(out);
        }
        Some(out)
    }

    /// The track's number of a copy the subscriber reports lost under its
    /// own number `seq`, if it was sent since the tile was last shown.
    pub fn resend(&self, seq: u16) -> Option<u16> {
        if self.hidden || self.awaiting_keyframe {
            return None;
        }
        if let Some(from) = self.shown_from {
            if (seq.wrapping_sub(from) as i16) < 0 {
                return None;
            }
        }
        Some(seq.wrapping_add(self.skipped))
    }
}

/// Whether a VP8 RTP payload starts a keyframe: the start of a partition
/// (S set, partition 0) whose frame header's P bit is clear (RFC 7741).
pub fn starts_vp8_keyframe(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    if first & 0x10 == 0 || first & 0x07 != 0 {
        return false;
    }
    let mut at = 1;
    if first & 0x80 != 0 {
        let Some(&ext) = payload.get(at) else {
            return false;
        };
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
    payload.get(at).is_some_and(|b| b & 0x01 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `packets` (seq, keyframe) through `w`: what was sent, as the
    /// subscriber numbers it.
    fn run(w: &mut Watch, packets: &[(u16, bool)]) -> Vec<u16> {
        packets.iter().filter_map(|&(s, k)| w.admit(s, k)).collect()
    }

    #[test]
    fn hidden_sends_nothing_and_shown_again_starts_at_a_keyframe_without_a_gap() {
        let mut w = Watch::new(false);
        assert_eq!(
            run(&mut w, &[(65534, true), (65535, false)]),
            [65534, 65535]
        );
        assert!(!w.set_visible(false));
        assert_eq!(
            run(&mut w, &[(0, false), (1, true), (2, false)]),
            [] as [u16; 0]
        );
        assert!(w.set_visible(true), "a keyframe is asked for");
        assert!(!w.set_visible(true), "only once");
        // Waits for the keyframe, then numbers on from where it stopped.
        assert_eq!(
            run(&mut w, &[(3, false), (4, true), (5, false)]),
            [0, 1],
            "65535 was the last it got"
        );
        assert_eq!(w.resend(1), Some(5));
        assert_eq!(w.resend(0), Some(4));
        assert_eq!(w.resend(65535), None, "numbered before it was hidden");
        w.set_visible(false);
        assert_eq!(w.resend(1), None, "nothing again while hidden");
    }

    #[test]
    fn a_subscription_may_start_hidden() {
        let mut w = Watch::new(true);
        assert!(w.hidden());
        assert_eq!(run(&mut w, &[(10, true)]), [] as [u16; 0]);
        assert!(w.set_visible(true));
        assert_eq!(run(&mut w, &[(11, false), (12, true)]), [10]);
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
}
