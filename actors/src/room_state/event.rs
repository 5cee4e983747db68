//! What a command changes, for the actor to carry out: tell participants,
//! persist, disconnect, delete bytes. Events describe facts; the actor
//! decides who sees what (full phone numbers go to moderators only).

use super::door::{WaitOutcome, Waiter, WaitingRoom};
use super::types::{Audience, Block, ChatMessage, Document, LeaveReason, Permission, Seat};
use crate::ids::{DocumentId, MessageId, ParticipantId};
use crate::role::Role;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Joined(Seat),
    Resumed {
        id: ParticipantId,
    },
    /// The seat is empty now; its attendance interval ends.
    Left {
        id: ParticipantId,
        reason: LeaveReason,
    },
    /// A moderator removed someone (followed by their `Left`); says who
    /// did it, for the audit log.
    Removed {
        target: ParticipantId,
        by: ParticipantId,
        block: bool,
    },
    Locked {
        by: ParticipantId,
    },
    Unlocked {
        by: ParticipantId,
    },
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
    /// Saved as a contact in the owner's address book, so the event holds
    /// the full number and its keyed hash: never shown as is (see view.rs).
    CallerNamed {
        target: ParticipantId,
        name: String,
        by: ParticipantId,
        number: String,
        index: Option<String>,
    },
    ChatPosted(ChatMessage),
    ChatDeleted {
        message: MessageId,
        by: ParticipantId,
    },
    DocumentAdded(Document),
    /// The bytes must be deleted and every client told.
    DocumentRemoved {
        document: DocumentId,
        by: ParticipantId,
    },
    /// The session ended with the document still shared: its bytes must be
    /// deleted (nobody is left to tell).
    DocumentExpired {
        document: DocumentId,
    },
    RecordingChanged {
        on: bool,
        by: ParticipantId,
    },
    /// Someone was turned away (locked, full, blocked): moderators are
    /// told, nothing is stored. `name` is `None` when the name given
    /// breaks the naming rules.
    JoinRefused {
        name: Option<String>,
        phone: bool,
        reason: super::RoomError,
    },
    /// Someone waits for a moderator (moderators are told).
    Waiting(Waiter),
    /// A wait ended; an admission is followed by the newcomer's `Joined`.
    WaitingLeft {
        id: ParticipantId,
        outcome: WaitOutcome,
    },
    WaitingRoomChanged {
        setting: WaitingRoom,
        by: ParticipantId,
    },
}

impl Event {
    /// Changes what must survive a restart (lock, permissions, blocks, the
    /// owner's contacts): an acknowledgement of one says whether it is
    /// committed yet.
    pub fn is_durable_state(&self) -> bool {
        matches!(
            self,
            Event::Locked { .. }
                | Event::Unlocked { .. }
                | Event::Blocked(_)
                | Event::Unblocked { .. }
                | Event::PermissionChanged { .. }
                | Event::WaitingRoomChanged { .. }
                | Event::CallerNamed { .. }
        )
    }
}

/// The answer to the sender, beyond the events everyone gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Ok,
    /// The newcomer waits for a moderator in the waiting room.
    Waiting,
    Blocks(Vec<Block>),
    /// A document the sender may download.
    Document(Document),
}

/// The result of one command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub reply: Result<Reply, super::RoomError>,
    pub events: Vec<Event>,
}

impl Outcome {
    pub(crate) fn refused(e: super::RoomError) -> Self {
        Self {
            reply: Err(e),
            events: Vec::new(),
        }
    }
}
