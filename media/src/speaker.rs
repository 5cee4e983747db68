//! Who is speaking, from the RFC 6464 audio levels publishers put on their
//! audio packets. Levels are in -dBov (0 loudest, 127 silence); the loudest
//! participant above a threshold over the last window is the active
//! speaker, and a change is reported only when someone else has been
//! louder for a whole window, so speakers do not flicker.

use std::collections::HashMap;

use conclave_actors::ParticipantId;

/// Below this (in dB above silence, i.e. `127 - level`) counts as quiet.
const SPEAKING: f32 = 127.0 - 60.0;

#[derive(Debug, Default)]
pub struct SpeakerDetector {
    /// Sum and count of loudness per participant in the current window.
    window: HashMap<ParticipantId, (f32, u32)>,
    current: Option<ParticipantId>,
    /// For as many windows as the current speaker has been it.
    held: u32,
    /// The speaker who has held the floor for [`SETTLE`] windows, and the
    /// one before them: what decides whose picture is larger (a keyframe
    /// each time it moves), where the speaker shown may change each
    /// window.
    settled: Option<ParticipantId>,
    settled_before: Option<ParticipantId>,
}

/// Windows a speaker holds the floor before they are settled (2.1 s at
/// the forwarder's 300 ms windows).
const SETTLE: u32 = 7;

impl SpeakerDetector {
    /// One audio packet's level.
    pub fn report(&mut self, who: ParticipantId, level: u8) {
        let loudness = 127.0 - f32::from(level.min(127));
        let e = self.window.entry(who).or_insert((0.0, 0));
        e.0 += loudness;
        e.1 += 1;
    }

    /// Who speaks now (the last who did, through silence).
    pub fn current(&self) -> Option<ParticipantId> {
        self.current
    }

    /// The settled speaker as `member` sees them: the last other than
    /// itself (a person's own voice does not take the large picture from
    /// the one they answer).
    pub fn heard_by(&self, member: ParticipantId) -> Option<ParticipantId> {
        if self.settled == Some(member) {
            self.settled_before
        } else {
            self.settled
        }
    }

    /// The participant left: they no longer speak.
    pub fn forget(&mut self, who: ParticipantId) -> Option<Option<ParticipantId>> {
        self.window.remove(&who);
        if self.settled_before == Some(who) {
            self.settled_before = None;
        }
        if self.settled == Some(who) {
            self.settled = self.settled_before.take();
        }
        if self.current == Some(who) {
            self.current = None;
            return Some(None);
        }
        None
    }

    /// Closes the window; answers the new speaker when it changed.
    pub fn tick(&mut self) -> Option<Option<ParticipantId>> {
        let loudest = self
            .window
            .drain()
            .map(|(who, (sum, n))| (who, sum / n.max(1) as f32))
            .filter(|(_, avg)| *avg >= SPEAKING)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(who, _)| who);
        self.held = self.held.saturating_add(1);
        if self.held >= SETTLE && self.settled != self.current {
            self.settled_before = std::mem::replace(&mut self.settled, self.current);
        }
        // Silence keeps the last speaker on screen, as meeting UIs do.
        match loudest {
            Some(who) if self.current != Some(who) => {
                self.current = Some(who);
                self.held = 0;
                Some(Some(who))
            }
            _ => None,
        }
    }
}

/// The RFC 6464 level in an RTP packet, given the extension id the
/// publisher negotiated for it.
pub fn audio_level(packet: &rtc::rtp::Packet, id: u8) -> Option<u8> {
    let ext = packet.header.get_extension(id)?;
    ext.first().map(|b| b & 0x7f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loudest_speaker_wins_and_silence_keeps_them() {
        let (a, b) = (ParticipantId::new(), ParticipantId::new());
        let mut d = SpeakerDetector::default();
        assert_eq!(d.tick(), None, "nobody yet");
        for _ in 0..10 {
            d.report(a, 30);
            d.report(b, 100);
        }
        assert_eq!(d.tick(), Some(Some(a)));
        for _ in 0..10 {
            d.report(a, 30);
        }
        assert_eq!(d.tick(), None, "unchanged");
        for _ in 0..10 {
            d.report(a, 90);
            d.report(b, 20);
        }
        assert_eq!(d.tick(), Some(Some(b)));
        for _ in 0..10 {
            d.report(a, 127);
            d.report(b, 127);
        }
        assert_eq!(d.tick(), None, "silence keeps the last speaker");
        assert_eq!(d.forget(b), Some(None));
    }

    #[test]
    fn the_settled_speaker_is_who_held_the_floor_and_never_oneself() {
        let (a, b, c) = (
            ParticipantId::new(),
            ParticipantId::new(),
            ParticipantId::new(),
        );
        let mut d = SpeakerDetector::default();
        let speak = |d: &mut SpeakerDetector, who, windows| {
            for _ in 0..windows {
                d.report(who, 20);
                d.tick();
            }
        };
        speak(&mut d, a, SETTLE + 1);
        assert_eq!(d.heard_by(c), Some(a));
        assert_eq!(d.heard_by(a), None, "nobody before a");
        // b for a moment: still a.
        speak(&mut d, b, 2);
        assert_eq!(d.current(), Some(b));
        assert_eq!(d.heard_by(c), Some(a));
        speak(&mut d, b, SETTLE);
        assert_eq!(d.heard_by(c), Some(b));
        assert_eq!(d.heard_by(b), Some(a), "b sees the one before itself");
        assert_eq!(d.forget(a), None);
        assert_eq!(d.heard_by(b), None, "the one who left is forgotten");
        d.forget(b);
        assert_eq!(d.heard_by(c), None);
    }
}
