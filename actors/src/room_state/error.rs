//! Why a room refused a command. Each is a user error: the connection that
//! sent it stays open and nothing changed.

/// A typed refusal with one wire code each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    #[error("the room is locked")]
    Locked,
    #[error("you are blocked from this conference")]
    Blocked,
    #[error("the room is full")]
    RoomFull,
    /// Enough people already wait from the newcomer's address.
    #[error("too many people are waiting from your address; try again later")]
    TooManyWaiting,
    /// A moderator turned the newcomer away from the waiting room.
    #[error("a moderator did not let you in; try again later")]
    Denied,
    #[error("only moderators may do that")]
    Forbidden,
    #[error("the room's permissions do not allow that")]
    NotPermitted,
    #[error("you are not in this room")]
    NotInRoom,
    #[error("no such participant")]
    UnknownParticipant,
    #[error("no such block")]
    UnknownBlock,
    #[error("no such message")]
    UnknownMessage,
    #[error("no such document")]
    UnknownDocument,
    #[error("that cannot be done to this participant")]
    InvalidTarget,
    #[error("the text is empty, too long or has control characters")]
    InvalidText,
    #[error("that seat is already connected")]
    AlreadyConnected,
    /// Signalling for the other media mode (peer-to-peer vs forwarded), or
    /// from a phone leg.
    #[error("that signalling does not fit the room's media mode")]
    WrongMediaMode,
    /// Too many events wait to be written (the database is away): the
    /// room takes no new work that would add more until they are.
    #[error("the server cannot record this right now; try again shortly")]
    Backlogged,
    /// The room failed while applying the command and was restarted.
    #[error("the room restarted; your state was resent")]
    Internal,
}

impl RoomError {
    pub fn code(self) -> &'static str {
        match self {
            RoomError::Locked => "locked",
            RoomError::Blocked => "blocked",
            RoomError::RoomFull => "room_full",
            RoomError::Denied => "denied",
            RoomError::TooManyWaiting => "too_many_waiting",
            RoomError::Forbidden => "forbidden",
            RoomError::NotPermitted => "not_permitted",
            RoomError::NotInRoom => "not_in_room",
            RoomError::UnknownParticipant => "unknown_participant",
            RoomError::UnknownBlock => "unknown_block",
            RoomError::UnknownMessage => "unknown_message",
            RoomError::UnknownDocument => "unknown_document",
            RoomError::InvalidTarget => "invalid_target",
            RoomError::InvalidText => "invalid_text",
            RoomError::AlreadyConnected => "already_connected",
            RoomError::WrongMediaMode => "wrong_media_mode",
            RoomError::Backlogged => "unavailable",
            RoomError::Internal => "internal",
        }
    }
}
