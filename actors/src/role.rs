//! The two roles in a room. A moderator is whoever joined with a valid
//! moderator PIN (or was promoted); everyone else is a participant.

use std::fmt;

/// What a participant may do in a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// May lock, remove, block, set permissions, see full phone numbers.
    Moderator,
    /// May take part within the room's permissions.
    Participant,
}

impl Role {
    /// The one wire name of the role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Moderator => "moderator",
            Role::Participant => "participant",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
