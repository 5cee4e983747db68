//! What one recipient is shown. The room's events carry full facts; this
//! module turns them into per-recipient messages, and is the one place that
//! decides who sees a full phone number: moderators do, nobody else does.

use crate::ids::ParticipantId;
use crate::media::{MediaMode, ServerSignal};
use crate::role::Role;
use crate::room_state::{
    Audience, Block, ChatMessage, Document, Endpoint, Event, LeaveReason, Millis, Permission,
    RoomState, Seat, WaitOutcome, WaitReason, Waiter, WaitingRoom,
};

/// A participant as a recipient with `viewer` role sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParticipantView {
    pub id: ParticipantId,
    pub name: String,
    pub role: Role,
    pub phone: bool,
    /// The full number for moderators, the masked one for everyone else;
    /// `None` for web participants.
    pub number: Option<String>,
    pub muted: bool,
    /// The conference's owner (signed in): cannot be removed or demoted.
    pub owner: bool,
}

impl ParticipantView {
    pub fn of(seat: &Seat, viewer: Role) -> Self {
        let number = match &seat.endpoint {
            Endpoint::Web => None,
            Endpoint::Phone { number, masked } => Some(if viewer == Role::Moderator {
                number.clone()
            } else {
                masked.clone()
            }),
        };
        Self {
            id: seat.id,
            name: seat.name.clone(),
            role: seat.role,
            phone: number.is_some(),
            number,
            muted: seat.muted,
            owner: seat.owner,
        }
    }
}

/// Someone in the waiting room, as moderators (the only ones told) see
/// them: a caller's full number included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaiterView {
    pub id: ParticipantId,
    pub name: String,
    pub number: Option<String>,
    pub since: Millis,
    pub reason: WaitReason,
}

impl WaiterView {
    pub fn of(w: &Waiter) -> Self {
        let number = match &w.newcomer.endpoint {
            Endpoint::Web => None,
            Endpoint::Phone { number, .. } => Some(number.clone()),
        };
        Self {
            id: w.id(),
            name: w.newcomer.name.clone(),
            number,
            since: w.since,
            reason: w.reason,
        }
    }
}

/// Everything a client needs after joining, resuming or a resync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub you: ParticipantId,
    pub role: Role,
    pub locked: bool,
    pub chat: Audience,
    pub share: Audience,
    pub recording: bool,
    pub participants: Vec<ParticipantView>,
    pub messages: Vec<ChatMessage>,
    pub documents: Vec<Document>,
    pub media: MediaState,
    /// Who the media plane last said is speaking, if still seated: the
    /// `active_speaker` messages only say when it changes.
    pub active_speaker: Option<ParticipantId>,
    pub waiting_room: WaitingRoom,
    /// Moderators only (empty for others): who waits, in the order they came.
    pub waiting: Vec<WaiterView>,
}

/// How this recipient's media flows: through the server, or end to end
/// with `peer` (the first of the two to join makes the offer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaState {
    pub mode: MediaMode,
    pub peer: Option<ParticipantId>,
    pub offerer: bool,
}

impl MediaState {
    pub fn of(room: &RoomState, you: ParticipantId) -> Self {
        let (mode, pair) = room.media_mode();
        let (peer, offerer) = match pair {
            Some((a, b)) if a == you => (Some(b), true),
            Some((a, b)) if b == you => (Some(a), false),
            _ => (None, false),
        };
        Self {
            mode,
            peer,
            offerer,
        }
    }
}

impl Snapshot {
    pub fn of(room: &RoomState, you: ParticipantId, role: Role) -> Self {
        let p = room.permissions();
        Self {
            you,
            role,
            locked: room.locked(),
            chat: p.chat,
            share: p.share,
            recording: room.recording(),
            participants: room
                .seats()
                .into_iter()
                .map(|s| ParticipantView::of(s, role))
                .collect(),
            messages: room.chat().cloned().collect(),
            documents: room.documents().to_vec(),
            media: MediaState::of(room, you),
            active_speaker: None,
            waiting_room: room.waiting_room(),
            waiting: if role == Role::Moderator {
                room.waiting().iter().map(WaiterView::of).collect()
            } else {
                Vec::new()
            },
        }
    }

    /// Adds the current speaker, unless they have left since.
    pub fn with_active_speaker(mut self, who: Option<ParticipantId>) -> Self {
        self.active_speaker = who.filter(|w| self.participants.iter().any(|p| p.id == *w));
        self
    }
}

/// One message into a participant's bounded outbound queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToClient {
    /// The whole room, after joining, resuming, a role change or a room restart.
    Snapshot(Box<Snapshot>),
    Joined(ParticipantView),
    Left {
        id: ParticipantId,
        reason: LeaveReason,
    },
    Locked {
        by: ParticipantId,
    },
    Unlocked {
        by: ParticipantId,
    },
    /// Moderators only: who was blocked, so they can lift it later.
    Blocked(Block),
    Unblocked {
        block: Block,
        by: ParticipantId,
    },
    PermissionChanged {
        permission: Permission,
        audience: Audience,
        by: ParticipantId,
    },
    Muted {
        target: ParticipantId,
        muted: bool,
        by: ParticipantId,
    },
    RoleChanged {
        target: ParticipantId,
        role: Role,
        by: ParticipantId,
    },
    CallerNamed {
        target: ParticipantId,
        name: String,
        by: ParticipantId,
    },
    ChatPosted(ChatMessage),
    ChatDeleted {
        message: crate::ids::MessageId,
        by: ParticipantId,
    },
    DocumentAdded(Document),
    DocumentRemoved {
        document: crate::ids::DocumentId,
        by: ParticipantId,
    },
    RecordingChanged {
        on: bool,
        by: ParticipantId,
    },
    /// Moderators only: someone was turned away at the door.
    JoinRefused {
        name: Option<String>,
        phone: bool,
        reason: crate::room_state::RoomError,
    },
    /// Moderators only: someone waits to be let in.
    Waiting(WaiterView),
    /// Moderators only: a wait ended.
    WaitingLeft {
        id: ParticipantId,
        outcome: WaitOutcome,
    },
    WaitingRoomChanged {
        setting: WaitingRoom,
        by: ParticipantId,
    },
    /// To the one waiting: a moderator let them in; their seat's snapshot
    /// follows.
    Admitted,
    /// The media mode changed for this recipient.
    Media(MediaState),
    /// Media signalling: from the server (`from: None`), or relayed from
    /// the peer in peer-to-peer mode.
    Signal {
        from: Option<ParticipantId>,
        signal: ServerSignal,
    },
    /// Who is speaking now, by the audio levels the server sees.
    ActiveSpeaker(Option<ParticipantId>),
    /// The server's media connections were lost: publish again.
    MediaReset,
    /// Moderators only: how well each participant receives.
    Reception(Vec<crate::media::Reception>),
    /// The last message: the connection is closed for this reason.
    Closed(CloseReason),
}

/// Why the room closes a participant's connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    Removed,
    Blocked,
    /// Its outbound queue overflowed: it could not keep up.
    SlowConsumer,
    /// The same seat was resumed on a newer connection.
    Replaced,
    RoomClosed,
    /// A moderator turned them away from the waiting room.
    Denied,
    /// Nobody let them in from the waiting room in time.
    WaitExpired,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Removed => "removed",
            CloseReason::Blocked => "blocked",
            CloseReason::SlowConsumer => "slow_consumer",
            CloseReason::Replaced => "replaced",
            CloseReason::RoomClosed => "room_closed",
            CloseReason::Denied => "denied",
            CloseReason::WaitExpired => "wait_expired",
        }
    }
}

/// One message in participants' queues, shared by every recipient of the
/// same role. The first recipient's connection spells it (as JSON, in the
/// server crate) and keeps the text here, so a room of 1,000 encodes an
/// event once per role, not once per person.
#[derive(Debug)]
pub struct Outgoing {
    pub message: ToClient,
    pub text: std::sync::OnceLock<String>,
}

impl Outgoing {
    pub fn new(message: ToClient) -> Self {
        Self {
            message,
            text: std::sync::OnceLock::new(),
        }
    }
}

/// What `event` becomes for a recipient with `viewer` role; `None` when it
/// is not theirs to see.
pub fn for_viewer(event: &Event, viewer: Role) -> Option<ToClient> {
    Some(match event {
        Event::Joined(seat) => ToClient::Joined(ParticipantView::of(seat, viewer)),
        // The target's `Left` says it to everyone; who did it is for the audit.
        Event::Resumed { .. } | Event::Removed { .. } | Event::DocumentExpired { .. } => {
            return None
        }
        Event::Left { id, reason } => ToClient::Left {
            id: *id,
            reason: *reason,
        },
        Event::Locked { by } => ToClient::Locked { by: *by },
        Event::Unlocked { by } => ToClient::Unlocked { by: *by },
        Event::Blocked(b) if viewer == Role::Moderator => ToClient::Blocked(b.clone()),
        Event::Unblocked { block, by } if viewer == Role::Moderator => ToClient::Unblocked {
            block: block.clone(),
            by: *by,
        },
        Event::Blocked(_) | Event::Unblocked { .. } => return None,
        Event::PermissionChanged {
            permission,
            audience,
            by,
        } => ToClient::PermissionChanged {
            permission: *permission,
            audience: *audience,
            by: *by,
        },
        Event::Muted { target, muted, by } => ToClient::Muted {
            target: *target,
            muted: *muted,
            by: *by,
        },
        Event::RoleChanged { target, role, by } => ToClient::RoleChanged {
            target: *target,
            role: *role,
            by: *by,
        },
        Event::CallerNamed {
            target, name, by, ..
        } => ToClient::CallerNamed {
            target: *target,
            name: name.clone(),
            by: *by,
        },
        Event::ChatPosted(m) => ToClient::ChatPosted(m.clone()),
        Event::ChatDeleted { message, by } => ToClient::ChatDeleted {
            message: *message,
            by: *by,
        },
        Event::DocumentAdded(d) => ToClient::DocumentAdded(d.clone()),
        Event::DocumentRemoved { document, by } => ToClient::DocumentRemoved {
            document: *document,
            by: *by,
        },
        Event::RecordingChanged { on, by } => ToClient::RecordingChanged { on: *on, by: *by },
        Event::JoinRefused {
            name,
            phone,
            reason,
        } if viewer == Role::Moderator => ToClient::JoinRefused {
            name: name.clone(),
            phone: *phone,
            reason: *reason,
        },
        Event::JoinRefused { .. } => return None,
        Event::Waiting(w) if viewer == Role::Moderator => ToClient::Waiting(WaiterView::of(w)),
        Event::WaitingLeft { id, outcome } if viewer == Role::Moderator => ToClient::WaitingLeft {
            id: *id,
            outcome: *outcome,
        },
        Event::Waiting(_) | Event::WaitingLeft { .. } => return None,
        Event::WaitingRoomChanged { setting, by } => ToClient::WaitingRoomChanged {
            setting: *setting,
            by: *by,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room_state::{Command, Identity, Newcomer, RoomSettings};

    #[test]
    fn only_moderators_see_a_full_number() {
        let mut room = RoomState::new(RoomSettings::default());
        let caller = Newcomer {
            id: ParticipantId::new(),
            name: "Caller".into(),
            role: Role::Participant,
            owner: false,
            endpoint: Endpoint::Phone {
                number: "+441234567123".into(),
                masked: "+44 •••• ••123".into(),
            },
            identities: vec![Identity::Phone("h".into())],
            hold: false,
            origin: None,
        };
        let out = room.apply(Command::Join(caller), 0);
        let joined = &out.events[0];
        let as_participant = format!("{:?}", for_viewer(joined, Role::Participant));
        let as_moderator = format!("{:?}", for_viewer(joined, Role::Moderator));
        assert!(
            !as_participant.contains("+441234567123"),
            "{as_participant}"
        );
        assert!(as_participant.contains("+44 •••• ••123"));
        assert!(as_moderator.contains("+441234567123"));
        let seat = room.seats()[0].id;
        let snapshot = format!("{:?}", Snapshot::of(&room, seat, Role::Participant));
        assert!(!snapshot.contains("+441234567123"), "{snapshot}");
    }
}
