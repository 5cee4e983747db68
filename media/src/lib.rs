//! Conclave's media plane: one media-forwarding actor per room that
//! terminates each participant's WebRTC peer connection (DTLS-SRTP), forwards
//! RTP between participants (an SFU), relays signalling for two-person
//! peer-to-peer calls, and writes recordings (Ogg/Opus, IVF/VP8) off the media
//! threads.
//!
//! Rooms talk to it only through messages behind a narrow interface (attach,
//! detach, publish, subscribe, mute, close), so the data plane can change
//! without touching the room engine.
//!
//! # Layout
//! - [`MediaMode`]: how a room's media currently flows; told to clients so a
//!   UI can show "end-to-end encrypted".
//!
//! The forwarding actor, peer handling and recording writers arrive with the
//! media issue.

/// How a room's media flows at the moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaMode {
    /// Two web participants, media end to end between them; the server only
    /// relays signalling.
    PeerToPeer,
    /// Every participant sends to the server, which forwards (and may record).
    Forwarded,
}

impl MediaMode {
    /// The one wire name of the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaMode::PeerToPeer => "p2p",
            MediaMode::Forwarded => "sfu",
        }
    }
}
