//! What can be asked of a room. Every command but `Join`, `Tick` and the
//! connection commands names its sender, whose role the room checks.

use super::door::WaitingRoom;
use super::types::{Audience, Document, Endpoint, Identity, Permission};
use crate::ids::{BlockId, DocumentId, MessageId, ParticipantId};
use crate::role::Role;

/// A newcomer, already admitted by the conference credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Newcomer {
    pub id: ParticipantId,
    pub name: String,
    /// What the credentials earned: moderator with a valid PIN.
    pub role: Role,
    pub owner: bool,
    pub endpoint: Endpoint,
    pub identities: Vec<Identity>,
    /// Waits for a moderator whatever the room's setting: the
    /// conference's failure limit was reached (someone guesses codes).
    pub hold: bool,
    /// Where the join came from (a web client's address), so that one
    /// place cannot fill the waiting list; `None` for phone calls.
    pub origin: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Join(Newcomer),
    /// The participant's connection came back within the grace period.
    Resume {
        id: ParticipantId,
        identities: Vec<Identity>,
    },
    /// The participant asked to leave.
    Leave {
        id: ParticipantId,
    },
    /// The connection dropped; the seat waits `resume_grace` for a resume.
    Disconnect {
        id: ParticipantId,
    },
    /// Time passed: seats whose grace ran out are dropped.
    Tick,
    /// The room is closing (server shutdown): every seat leaves.
    Close,
    Lock {
        by: ParticipantId,
    },
    Unlock {
        by: ParticipantId,
    },
    Remove {
        by: ParticipantId,
        target: ParticipantId,
        block: bool,
    },
    ListBlocks {
        by: ParticipantId,
    },
    Unblock {
        by: ParticipantId,
        block: BlockId,
    },
    SetPermission {
        by: ParticipantId,
        permission: Permission,
        audience: Audience,
    },
    Mute {
        by: ParticipantId,
        target: ParticipantId,
        muted: bool,
    },
    Promote {
        by: ParticipantId,
        target: ParticipantId,
    },
    Demote {
        by: ParticipantId,
        target: ParticipantId,
    },
    /// A moderator names a phone participant (saved as the owner's contact).
    NameCaller {
        by: ParticipantId,
        target: ParticipantId,
        name: String,
    },
    Chat {
        by: ParticipantId,
        id: MessageId,
        text: String,
    },
    DeleteChat {
        by: ParticipantId,
        message: MessageId,
    },
    /// May this participant upload now? Asked before the bytes are accepted.
    CheckShare {
        by: ParticipantId,
    },
    /// An upload finished; announce it.
    AddDocument {
        by: ParticipantId,
        document: Document,
    },
    RemoveDocument {
        by: ParticipantId,
        document: DocumentId,
    },
    /// May this participant download a document?
    CheckDownload {
        by: ParticipantId,
        document: DocumentId,
    },
    StartRecording {
        by: ParticipantId,
    },
    StopRecording {
        by: ParticipantId,
    },
    /// A moderator lets someone in from the waiting room.
    Admit {
        by: ParticipantId,
        target: ParticipantId,
    },
    /// Everyone waiting, in the order they came, while there are seats.
    AdmitAll {
        by: ParticipantId,
    },
    /// A moderator turns someone away; they may not wait again for a while.
    Deny {
        by: ParticipantId,
        target: ParticipantId,
    },
    /// Someone waiting gave up (closed the page, hung up).
    StopWaiting {
        id: ParticipantId,
    },
    SetWaitingRoom {
        by: ParticipantId,
        setting: WaitingRoom,
    },
}
