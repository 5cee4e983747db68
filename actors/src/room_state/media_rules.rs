//! The media rules of the room: which mode media flows in, and whether a
//! participant's signalling (or the server's) may go where it is sent.

use super::{Endpoint, RoomError, RoomState};
use crate::ids::ParticipantId;
use crate::media::{ClientSignal, MediaMode, PcKind};

impl RoomState {
    /// How media flows now: end to end when the room allows it, exactly two
    /// people are in it, both on the web, and nobody records; through the
    /// server otherwise. For peer-to-peer, the pair in the order they joined
    /// (the first makes the offer).
    pub fn media_mode(&self) -> (MediaMode, Option<(ParticipantId, ParticipantId)>) {
        // Checked first: in a big room this runs for every event.
        if !self.settings.peer_to_peer || self.recording || self.seats.len() != 2 {
            return (MediaMode::Forwarded, None);
        }
        let seats = self.seats();
        if seats.iter().all(|s| s.endpoint == Endpoint::Web) {
            return (MediaMode::PeerToPeer, Some((seats[0].id, seats[1].id)));
        }
        (MediaMode::Forwarded, None)
    }

    /// Whether `by` may send this signalling now: a seated web participant,
    /// in the media mode it is meant for, and a screen only with the
    /// `share` permission. Answers the peer to relay to, in peer-to-peer.
    pub fn check_signal(
        &self,
        by: ParticipantId,
        signal: &ClientSignal,
    ) -> Result<Option<ParticipantId>, RoomError> {
        let seat = self.sender(by)?;
        if seat.endpoint != Endpoint::Web {
            return Err(RoomError::WrongMediaMode);
        }
        // End to end the server holds no connection with either of the
        // two: a publish or subscribe signal then was sent before the client
        // heard of the move, and taken it would open a connection nobody
        // uses, which the way back to the server would then reuse.
        let peer = match (signal.pc(), self.media_mode()) {
            (PcKind::Peer, (MediaMode::PeerToPeer, Some((a, b)))) => {
                Some(if a == by { b } else { a })
            }
            (PcKind::Peer, _)
            | (PcKind::Publish | PcKind::Subscribe, (MediaMode::PeerToPeer, _)) => {
                return Err(RoomError::WrongMediaMode)
            }
            (PcKind::Publish | PcKind::Subscribe, _) => None,
        };
        if let ClientSignal::Watch {
            publisher, source, ..
        } = signal
        {
            if source.is_audio() {
                return Err(RoomError::InvalidTarget);
            }
            if !self.seats.contains_key(publisher) {
                return Err(RoomError::UnknownParticipant);
            }
        }
        if let ClientSignal::Offer { tracks, .. } = signal {
            let screen = tracks
                .iter()
                .any(|(_, s)| *s == crate::media::TrackSource::Screen);
            if screen && !self.durable.permissions.share.admits(seat.role) {
                return Err(RoomError::NotPermitted);
            }
        }
        Ok(peer)
    }

    /// Whether the media plane's own signalling reaches `to` now: a seated
    /// participant, and not while the room is end to end. The server then
    /// has no connection with either of the two, so what arrives was made
    /// before the move (an offer a departure made).
    pub fn takes_server_signal(&self, to: ParticipantId) -> bool {
        self.seats.contains_key(&to) && self.media_mode().0 != MediaMode::PeerToPeer
    }

    /// Whether the participant may send a screen now.
    pub fn may_present(&self, id: ParticipantId) -> bool {
        self.seats
            .get(&id)
            .is_some_and(|s| self.durable.permissions.share.admits(s.role))
    }
}
