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
}

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

    /// The participant left: they no longer speak.
    pub fn forget(&mut self, who: ParticipantId) -> Option<Option<ParticipantId>> {
        self.window.remove(&who);
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
        // Silence keeps the last speaker on screen, as meeting UIs do.
        match loudest {
            Some(who) if self.current != Some(who) => {
                self.current = Some(who);
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
}
