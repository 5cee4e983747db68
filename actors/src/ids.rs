//! Typed identifiers, so a conference id can never be passed where an account
//! id is expected. Each is a UUID on the wire and in both stores.

use std::fmt;
use std::str::FromStr;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A fresh random (v4) identifier.
            pub fn new() -> Self {
                Self(uuid::Uuid::new_v4())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s).map(Self)
            }
        }
    };
}

typed_id!(
    /// An account: the owner of a conference line and of scheduled conferences.
    AccountId
);
typed_id!(
    /// A conference: an account's permanent line or one scheduled meeting.
    ConferenceId
);
typed_id!(
    /// One participant's seat in a live room (survives a resumed connection).
    ParticipantId
);
typed_id!(
    /// A block: the identities a moderator barred from a conference.
    BlockId
);
typed_id!(
    /// A chat message (its id survives restarts, so it is not a sequence).
    MessageId
);
typed_id!(
    /// A document shared in a conference.
    DocumentId
);
typed_id!(
    /// One live session of a conference: from its room's start to its end.
    SessionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_strings() {
        let id = ConferenceId::new();
        let parsed: ConferenceId = id.to_string().parse().expect("a printed id parses");
        assert_eq!(id, parsed);
        assert!("not-a-uuid".parse::<AccountId>().is_err());
    }
}
