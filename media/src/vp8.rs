//! What the server reads and rewrites of a VP8 RTP payload (RFC 7741):
//! whether a packet starts a keyframe and how high its picture is, and the
//! payload descriptor's PictureID and TL0PICIDX.
//!
//! Each simulcast layer numbers its pictures on its own. A subscriber moved
//! from one layer to another must see those numbers run on, as its
//! sequence numbers do: a receiver that sees the PictureID jump back may
//! take the new layer's frames as older than ones it decoded and drop
//! them, and one that sees it jump ahead waits for the pictures in the gap
//! (Chromium froze on the new layer in `web/tests/bandwidth.test.js` now
//! and then until this was done).

/// Where the VP8 frame starts in an RTP payload that starts partition 0
/// (S set, partition index 0), past the payload descriptor.
fn frame_start(payload: &[u8]) -> Option<usize> {
    let first = *payload.first()?;
    if first & 0x10 == 0 || first & 0x07 != 0 {
        return None;
    }
    let at = Fields::of(payload)?;
    Some(at.end)
}

/// Whether a VP8 RTP payload starts a keyframe: the start of a partition
/// (S set, partition 0) whose frame header's P bit is clear.
pub fn starts_keyframe(payload: &[u8]) -> bool {
    frame_start(payload)
        .and_then(|at| payload.get(at))
        .is_some_and(|b| b & 0x01 == 0)
}

/// The picture height a VP8 keyframe's first packet gives (RFC 6386
/// §9.1: after the 3-byte frame tag, the start code 9d 01 2a, then width
/// and height, 14 bits each, little-endian, under two scaling bits).
pub fn keyframe_height(payload: &[u8]) -> Option<u16> {
    let at = frame_start(payload)?;
    let frame = payload.get(at..at + 10)?;
    if frame[0] & 0x01 != 0 || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    Some(u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff)
}

/// Where a payload descriptor's optional fields are.
struct Fields {
    /// The PictureID's offset, and whether it is 15 bits (else 7).
    picture: Option<(usize, bool)>,
    tl0: Option<usize>,
    /// Past the descriptor.
    end: usize,
}

impl Fields {
    fn of(payload: &[u8]) -> Option<Self> {
        let first = *payload.first()?;
        let mut fields = Self {
            picture: None,
            tl0: None,
            end: 1,
        };
        if first & 0x80 == 0 {
            return Some(fields);
        }
        let ext = *payload.get(1)?;
        let mut at = 2;
        if ext & 0x80 != 0 {
            // M set: 15 bits.
            let long = *payload.get(at)? & 0x80 != 0;
            if long {
                payload.get(at + 1)?;
            }
            fields.picture = Some((at, long));
            at += if long { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            payload.get(at)?;
            fields.tl0 = Some(at);
            at += 1;
        }
        if ext & 0x30 != 0 {
            at += 1;
        }
        fields.end = at;
        Some(fields)
    }
}

/// A packet's picture numbers, where its descriptor carries them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ids {
    /// The PictureID, and whether it is 15 bits (else 7).
    pub picture: Option<(u16, bool)>,
    pub tl0: Option<u8>,
}

impl Ids {
    pub fn of(payload: &[u8]) -> Self {
        let Some(f) = Fields::of(payload) else {
            return Self::default();
        };
        Self {
            picture: f.picture.map(|(at, long)| {
                let id = if long {
                    u16::from_be_bytes([payload[at], payload[at + 1]]) & 0x7fff
                } else {
                    u16::from(payload[at] & 0x7f)
                };
                (id, long)
            }),
            tl0: f.tl0.map(|at| payload[at]),
        }
    }

    /// These numbers as a subscriber with `shift` gets them.
    pub fn shifted(self, shift: Shift) -> Self {
        Self {
            picture: self
                .picture
                .map(|(id, long)| (id.wrapping_add(shift.picture) & mask(long), long)),
            tl0: self.tl0.map(|t| t.wrapping_add(shift.tl0)),
        }
    }

    /// The shift that numbers these (the first of a new layer's) right
    /// after `last` (the last a subscriber got).
    pub fn shift_after(self, last: Ids) -> Shift {
        let picture = match (self.picture, last.picture) {
            (Some((id, long)), Some((before, _))) => {
                before.wrapping_add(1).wrapping_sub(id) & mask(long)
            }
            _ => 0,
        };
        let tl0 = match (self.tl0, last.tl0) {
            (Some(t), Some(before)) => before.wrapping_add(1).wrapping_sub(t),
            _ => 0,
        };
        Shift { picture, tl0 }
    }
}

fn mask(long: bool) -> u16 {
    if long {
        0x7fff
    } else {
        0x7f
    }
}

/// What is added to a layer's picture numbers to make a subscriber's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shift {
    pub picture: u16,
    pub tl0: u8,
}

impl Shift {
    /// A copy of `payload` with its numbers shifted, or `None` where
    /// nothing changes (no shift, or no numbers to shift).
    pub fn apply(self, payload: &[u8]) -> Option<Vec<u8>> {
        if self == Shift::default() {
            return None;
        }
        let f = Fields::of(payload)?;
        if f.picture.is_none() && f.tl0.is_none() {
            return None;
        }
        let ids = Ids::of(payload).shifted(self);
        let mut out = payload.to_vec();
        if let (Some((at, long)), Some((id, _))) = (f.picture, ids.picture) {
            if long {
                let [hi, lo] = id.to_be_bytes();
                out[at] = 0x80 | hi;
                out[at + 1] = lo;
            } else {
                out[at] = id as u8;
            }
        }
        if let (Some(at), Some(t)) = (f.tl0, ids.tl0) {
            out[at] = t;
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframes_are_found_behind_any_descriptor() {
        // S, partition 0, no extension; frame header P clear: a keyframe.
        assert!(starts_keyframe(&[0x10, 0x00, 0x9d]));
        assert!(!starts_keyframe(&[0x10, 0x01]), "an interframe");
        assert!(!starts_keyframe(&[0x00, 0x00]), "not a partition start");
        assert!(!starts_keyframe(&[0x11, 0x00]), "partition 1");
        // X with a 15-bit PictureID, TL0PICIDX and TID/KEYIDX.
        assert!(starts_keyframe(&[0x90, 0xe0, 0x81, 0x02, 0x05, 0x20, 0x00]));
        assert!(!starts_keyframe(&[
            0x90, 0xe0, 0x81, 0x02, 0x05, 0x20, 0x01
        ]));
        // X with a 7-bit PictureID only.
        assert!(starts_keyframe(&[0x90, 0x80, 0x05, 0x00]));
        assert!(!starts_keyframe(&[0x90, 0x80]), "cut short");
        assert!(!starts_keyframe(&[]));
    }

    #[test]
    fn a_keyframe_tells_its_height() {
        // Descriptor (no extension), tag (keyframe), start code, 640 x 360
        // (scaling bits set, to be ignored).
        let key = [
            0x10, 0x50, 0x2a, 0x01, 0x9d, 0x01, 0x2a, 0x80, 0x42, 0x68, 0x41,
        ];
        assert_eq!(keyframe_height(&key), Some(360));
        let mut inter = key;
        inter[1] |= 0x01;
        assert_eq!(keyframe_height(&inter), None, "an interframe");
        assert_eq!(keyframe_height(&key[..8]), None, "cut short");
        let mut wrong = key;
        wrong[5] = 0;
        assert_eq!(keyframe_height(&wrong), None, "no start code");
    }

    #[test]
    fn picture_numbers_are_read_and_run_on_across_layers() {
        // 15-bit PictureID 0x0102, TL0PICIDX 5, TID/KEYIDX.
        let old = [0x90, 0xe0, 0x81, 0x02, 0x05, 0x20, 0x00];
        assert_eq!(
            Ids::of(&old),
            Ids {
                picture: Some((0x0102, true)),
                tl0: Some(5)
            }
        );
        // A new layer's keyframe: PictureID 0x7ffe, TL0PICIDX 250.
        let new = [0x90, 0xe0, 0xff, 0xfe, 250, 0x20, 0x00, 0x9d];
        let shift = Ids::of(&new).shift_after(Ids::of(&old));
        let out = shift.apply(&new).expect("shifted");
        assert_eq!(
            Ids::of(&out),
            Ids {
                picture: Some((0x0103, true)),
                tl0: Some(6)
            }
        );
        assert_eq!(&out[5..], &new[5..], "the rest untouched");
        assert!(starts_keyframe(&out));
        // The next picture of the new layer, past both numbers' wrap.
        let next = [0x90, 0xe0, 0x80, 0x00, 251, 0x20, 0x01];
        let out = shift.apply(&next).unwrap();
        assert_eq!(Ids::of(&out).picture, Some((0x0105, true)));
        assert_eq!(Ids::of(&out).tl0, Some(7));
        // 7 bits wrap at 128.
        let short = [0x90, 0x80, 0x7f, 0x00];
        let s = Ids::of(&short).shift_after(Ids {
            picture: Some((3, false)),
            tl0: None,
        });
        assert_eq!(Ids::of(&s.apply(&short).unwrap()).picture, Some((4, false)));
        // Nothing to do: no copy.
        assert_eq!(Shift::default().apply(&new), None);
        assert_eq!(shift.apply(&[0x10, 0x00]), None, "no numbers");
        assert_eq!(shift.apply(&[0x90, 0x80]), None, "cut short");
    }
}
