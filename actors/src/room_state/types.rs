//! The values a room is made of: seats, identities, permissions, blocks,
//! chat messages and documents. Plain data; the rules are in `apply`.

use crate::ids::{AccountId, BlockId, DocumentId, MessageId, ParticipantId};
use crate::role::Role;

/// Milliseconds since the Unix epoch. The caller supplies "now", so the
/// state machine never reads a clock.
pub type Millis = i64;

/// Who a room permission admits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    Everyone,
    Moderators,
}

impl Audience {
    pub fn admits(self, role: Role) -> bool {
        self == Audience::Everyone || role == Role::Moderator
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Everyone => "everyone",
            Audience::Moderators => "moderators",
        }
    }
}

/// The room's two permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Send chat messages.
    Chat,
    /// Upload documents and present a screen.
    Share,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permissions {
    pub chat: Audience,
    pub share: Audience,
}

impl Default for Permissions {
    fn default() -> Self {
        Self {
            chat: Audience::Everyone,
            share: Audience::Everyone,
        }
    }
}

impl Permissions {
    pub fn get(&self, p: Permission) -> Audience {
        match p {
            Permission::Chat => self.chat,
            Permission::Share => self.share,
        }
    }

    fn slot(&mut self, p: Permission) -> &mut Audience {
        match p {
            Permission::Chat => &mut self.chat,
            Permission::Share => &mut self.share,
        }
    }

    pub(crate) fn set(&mut self, p: Permission, a: Audience) {
        *self.slot(p) = a;
    }
}

/// Something the server knows a participant by, which a block can bar.
/// Values are opaque to the room: the server passes a device credential's
/// id and a keyed hash of a phone number, never the number itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Identity {
    Account(AccountId),
    Device(String),
    Phone(String),
    /// An application's user, from a join token: a keyed hash of the
    /// account and the application's id for them.
    External(String),
}

/// How a participant is connected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Web,
    /// A phone leg. `number` is the full number, which only moderators
    /// are ever shown; `masked` is what everyone else sees.
    Phone {
        number: String,
        masked: String,
    },
}

/// Why a participant left. Each has one wire name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LeaveReason {
    Left,
    Removed,
    Blocked,
    Dropped,
    RoomClosed,
}

impl LeaveReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LeaveReason::Left => "left",
            LeaveReason::Removed => "removed",
            LeaveReason::Blocked => "blocked",
            LeaveReason::Dropped => "dropped",
            LeaveReason::RoomClosed => "room_closed",
        }
    }
}

/// One participant's place in the room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seat {
    pub id: ParticipantId,
    pub name: String,
    pub role: Role,
    /// The conference owner: can promote and demote, and cannot be removed,
    /// blocked or demoted by anyone.
    pub owner: bool,
    pub endpoint: Endpoint,
    pub identities: Vec<Identity>,
    /// Kept as state; the media plane enforces it.
    pub muted: bool,
    pub joined_at: Millis,
    /// Set while the connection is gone and the seat waits for a resume.
    pub disconnected_at: Option<Millis>,
}

/// A block and who made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub id: BlockId,
    pub identities: Vec<Identity>,
    /// The blocked participant's name, so moderators know what they lift.
    pub name: String,
    pub by: ParticipantId,
    pub at: Millis,
}

/// A chat message; a deleted one keeps its place as a tombstone without text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage {
    pub id: MessageId,
    pub from: ParticipantId,
    pub from_name: String,
    pub at: Millis,
    /// `None` once deleted.
    pub text: Option<String>,
}

/// A document's metadata (the bytes live on disk, owned by the server).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    pub id: DocumentId,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub by: ParticipantId,
    pub at: Millis,
}
