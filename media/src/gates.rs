//! What may flow for one participant, as three flags the room sets
//! synchronously (before it acknowledges a moderator) and every forwarding
//! loop reads for every packet.

use std::sync::atomic::{AtomicBool, Ordering};

use conclave_actors::media::TrackSource;

#[derive(Debug)]
pub struct Gates {
    attached: AtomicBool,
    /// Its subscribe connection is up: copies for it would otherwise be
    /// encrypted and sent into nothing.
    receiving: AtomicBool,
    muted: AtomicBool,
    screen: AtomicBool,
}

impl Gates {
    pub fn new(may_share: bool) -> Self {
        Self {
            attached: AtomicBool::new(true),
            receiving: AtomicBool::new(false),
            muted: AtomicBool::new(false),
            screen: AtomicBool::new(may_share),
        }
    }

    /// Still in the room.
    pub fn attached(&self) -> bool {
        self.attached.load(Ordering::SeqCst)
    }

    /// Still in the room, and its subscribe connection is up.
    pub fn receiving(&self) -> bool {
        self.attached() && self.receiving.load(Ordering::Relaxed)
    }

    pub fn set_receiving(&self, up: bool) {
        self.receiving.store(up, Ordering::Relaxed);
    }

    /// May a packet of `source` from this participant be forwarded now?
    pub fn open(&self, source: TrackSource) -> bool {
        self.attached()
            && match source {
                TrackSource::Microphone => !self.muted.load(Ordering::SeqCst),
                TrackSource::Camera => true,
                TrackSource::Screen => self.screen.load(Ordering::SeqCst),
            }
    }

    /// Attached again, with the same mute and screen permission.
    pub fn renewed(&self) -> Self {
        Self {
            attached: AtomicBool::new(true),
            receiving: AtomicBool::new(false),
            muted: AtomicBool::new(self.muted.load(Ordering::SeqCst)),
            screen: AtomicBool::new(self.screen.load(Ordering::SeqCst)),
        }
    }

    pub fn detach(&self) {
        self.attached.store(false, Ordering::SeqCst);
    }

    pub fn mute(&self, muted: bool) {
        self.muted.store(muted, Ordering::SeqCst);
    }

    pub fn allow_screen(&self, allowed: bool) {
        self.screen.store(allowed, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_gate_closes_only_what_it_names() {
        let g = Gates::new(false);
        assert!(g.open(TrackSource::Microphone) && g.open(TrackSource::Camera));
        assert!(!g.open(TrackSource::Screen));
        g.mute(true);
        assert!(!g.open(TrackSource::Microphone) && g.open(TrackSource::Camera));
        g.allow_screen(true);
        assert!(g.open(TrackSource::Screen));
        g.mute(false);
        g.detach();
        for s in [
            TrackSource::Microphone,
            TrackSource::Camera,
            TrackSource::Screen,
        ] {
            assert!(!g.open(s), "{s:?} after detach");
        }
    }
}
