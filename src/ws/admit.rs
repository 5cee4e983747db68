//! Which way a `join` asks to enter: by access code (with the security
//! code and moderator PIN, through `resolve`, throttled), or by a
//! conference's id for its owner signed in with `account_token`, who then
//! types no code at all (docs/protocol.md, `join`).

use conclave_actors::ConferenceId;
use uuid::Uuid;

use crate::codes::Credentials;

/// The way in a join frame asks for.
#[derive(Debug)]
pub enum Door {
    Code(Credentials),
    /// The signed-in account's own conference.
    Owner(ConferenceId),
}

/// Picks the door from the frame's fields, or the refusal's (code, message).
pub fn door(
    access_code: Option<String>,
    conference: Option<Uuid>,
    security_code: Option<String>,
    moderator_pin: Option<String>,
    signed_in: bool,
) -> Result<Door, (&'static str, &'static str)> {
    match (access_code, conference) {
        (Some(_), Some(_)) => Err(("bad_request", "send access_code or conference, not both")),
        (None, None) => Err(("bad_request", "access_code is required")),
        (None, Some(_)) if !signed_in => Err((
            "unauthorized",
            "joining by conference needs the owner's account_token",
        )),
        (None, Some(id)) => Ok(Door::Owner(ConferenceId(id))),
        (Some(access_code), None) => Ok(Door::Code(Credentials {
            access_code,
            security_code,
            moderator_pin,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_door_at_a_time_and_the_owners_needs_an_account() {
        let id = Uuid::new_v4();
        let code = || Some("1234567890".to_owned());
        assert!(matches!(
            door(None, Some(id), None, None, true),
            Ok(Door::Owner(ConferenceId(c))) if c == id
        ));
        assert_eq!(
            door(None, Some(id), None, None, false).unwrap_err().0,
            "unauthorized"
        );
        assert_eq!(
            door(code(), Some(id), None, None, true).unwrap_err().0,
            "bad_request"
        );
        assert_eq!(
            door(None, None, None, None, true).unwrap_err().0,
            "bad_request"
        );
        assert!(matches!(
            door(code(), None, Some("2468".into()), None, false),
            Ok(Door::Code(Credentials {
                security_code: Some(_),
                ..
            }))
        ));
    }
}
