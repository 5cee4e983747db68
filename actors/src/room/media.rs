//! The room's side of its media plane: what the plane must enforce for each
//! event, the moves between peer to peer and the server, and the signalling
//! both ways.

use std::sync::Arc;

use actix::prelude::*;

use super::{PhoneMedia, Room, Signal};
use crate::ids::ParticipantId;
use crate::media::{ClientSignal, FromMedia, MediaEvent, MediaMode, PcKind, ServerSignal};
use crate::role::Role;
use crate::room_state::{Endpoint, Event, Permission, RoomError, WaitOutcome};
use crate::view::{MediaState, Outgoing, ToClient};

impl Room {
    /// What the media plane must enforce, before anyone is told: a removal
    /// is acknowledged only after nothing more of the target is forwarded.
    pub(super) fn tell_media(&mut self, event: &Event) {
        match event {
            Event::Joined(seat) if seat.endpoint == Endpoint::Web => {
                let may = self.state.may_present(seat.id);
                self.media.attach(seat.id, may);
            }
            Event::Joined(seat) => {
                if let Some(audio) = self.phone_audio.get(&seat.id) {
                    self.media.attach_phone(seat.id, audio.clone());
                }
            }
            Event::Left { id, .. } => {
                self.media.detach(*id);
                self.phone_audio.remove(id);
            }
            // Admitted, the caller's `Joined` follows and takes the audio.
            Event::WaitingLeft { id, outcome }
                if !matches!(outcome, WaitOutcome::Admitted { .. }) =>
            {
                self.phone_audio.remove(id);
            }
            Event::Muted { target, muted, .. } => self.media.mute(*target, *muted),
            Event::RoleChanged { target, .. } => {
                let may = self.state.may_present(*target);
                self.media.allow_screen(*target, may);
            }
            Event::PermissionChanged {
                permission: Permission::Share,
                ..
            } => {
                let seats: Vec<_> = self.state.seats().iter().map(|s| s.id).collect();
                for id in seats {
                    let may = self.state.may_present(id);
                    self.media.allow_screen(id, may);
                }
            }
            Event::RecordingChanged { on, .. } => self.media.record(*on),
            _ => {}
        }
    }

    /// A resumed page closes its server connections and publishes again:
    /// the plane must start afresh too, or it keeps the old connections'
    /// tracks and never offers the page anything (nothing changed for it).
    pub(super) fn media_afresh(&mut self, id: ParticipantId) {
        if self
            .state
            .seat(id)
            .is_some_and(|s| s.endpoint == Endpoint::Web)
        {
            let may = self.state.may_present(id);
            self.media.detach(id);
            self.media.attach(id, may);
        }
    }

    /// Tells each web participant whose media mode changed. Moving from
    /// end to end to forwarded keeps the call: clients publish to the server
    /// and then drop their direct connection.
    pub(super) fn announce_media_mode(&mut self) {
        // Once per event, and a room of 1,000 has many: only a change of
        // the mode itself is worth a look at every connection.
        // Connections attached since the last change learnt the mode from
        // their snapshot; one command changes it at most once, so on a
        // change every web connection's view of it changed too.
        let mode = self.state.media_mode();
        if self.media_mode == mode {
            return;
        }
        self.media_mode = mode;
        // End to end: the server's connections with both close, and both
        // are detached before either is attached again. Attached while the
        // other's tracks were still there, one was offered them on a
        // connection nobody will answer, and the plane offers nothing more
        // until that answer. The pair comes from the seats, not the
        // connections: a joiner's connection is attached only after its
        // join, yet the plane may already have offered it the first
        // publisher's tracks.
        if let (MediaMode::PeerToPeer, Some((a, b))) = mode {
            self.media.detach(a);
            self.media.detach(b);
            for id in [a, b] {
                let may = self.state.may_present(id);
                self.media.attach(id, may);
            }
        }
        let ids: Vec<_> = self.connections.keys().copied().collect();
        for id in ids {
            let is_web = self
                .state
                .seat(id)
                .is_some_and(|s| s.endpoint == Endpoint::Web);
            if is_web {
                let now = MediaState::of(&self.state, id);
                self.send_to(id, ToClient::Media(now));
            }
        }
    }
}

impl Handler<Signal> for Room {
    type Result = Result<(), RoomError>;

    fn handle(&mut self, msg: Signal, _: &mut Self::Context) -> Self::Result {
        match self.state.check_signal(msg.by, &msg.signal)? {
            Some(peer) => {
                let signal = match msg.signal {
                    ClientSignal::Offer { sdp, .. } => ServerSignal::Offer {
                        pc: PcKind::Peer,
                        sdp,
                    },
                    ClientSignal::Answer { sdp, .. } => ServerSignal::Answer {
                        pc: PcKind::Peer,
                        sdp,
                    },
                    ClientSignal::Candidate { candidate, .. } => ServerSignal::Candidate {
                        pc: PcKind::Peer,
                        candidate,
                    },
                    // Only for the server's own connections: never relayed.
                    ClientSignal::Watch { .. } => return Err(RoomError::WrongMediaMode),
                };
                self.send_to(
                    peer,
                    ToClient::Signal {
                        from: Some(msg.by),
                        signal,
                    },
                );
            }
            None => self.media.signal(msg.by, msg.signal),
        }
        Ok(())
    }
}

impl Handler<PhoneMedia> for Room {
    type Result = ();

    fn handle(&mut self, msg: PhoneMedia, _: &mut Self::Context) {
        let seated = self.state.seat(msg.id).map(|s| &s.endpoint);
        match seated {
            Some(Endpoint::Phone { .. }) => {
                self.media.attach_phone(msg.id, msg.audio.clone());
            }
            // Waiting (attached when admitted), or gone already.
            Some(_) => return,
            None if !self.waiters.contains_key(&msg.id) => return,
            None => {}
        }
        self.phone_audio.insert(msg.id, msg.audio);
    }
}

impl Handler<FromMedia> for Room {
    type Result = ();

    fn handle(&mut self, FromMedia(event): FromMedia, _: &mut Self::Context) {
        match event {
            MediaEvent::Signal { to, signal } => {
                // A client would open a connection nobody serves.
                if !self.state.takes_server_signal(to) {
                    return;
                }
                self.send_to(to, ToClient::Signal { from: None, signal })
            }
            MediaEvent::ActiveSpeaker(who) => {
                // Kept for snapshots: a newcomer learns who speaks now.
                self.active_speaker = who;
                let m = Arc::new(Outgoing::new(ToClient::ActiveSpeaker(who)));
                self.deliver(|_| Some(m.clone()));
            }
            MediaEvent::Restarted => {
                let m = Arc::new(Outgoing::new(ToClient::MediaReset));
                self.deliver(|_| Some(m.clone()));
            }
            MediaEvent::Reconnect(to) => {
                if self.state.takes_server_signal(to) {
                    self.send_to(to, ToClient::MediaReset);
                }
            }
            MediaEvent::Reception(mut all) => {
                // Someone's network is the moderators' business, to help or
                // to act on, and nobody else's.
                all.retain(|r| self.state.seat(r.participant).is_some());
                if all.is_empty() {
                    return;
                }
                let m = Arc::new(Outgoing::new(ToClient::Reception(all)));
                self.deliver(|role| (role == Role::Moderator).then(|| m.clone()));
            }
            // The relay (relay.rs) takes these: they may outlive the room.
            MediaEvent::Recorded(_) => {}
        }
    }
}
