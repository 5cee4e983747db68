//! Decoding what a client sends over the WebSocket. One text frame holds
//! one JSON object with a `type` and a request `id` (1 to 64 characters)
//! that the answer echoes. See docs/protocol.md.
//!
//! Errors decide the connection's fate: a frame that is not a JSON object
//! with a string `type` and `id`, or is too large, is a
//! [`DecodeError::Violation`] and closes the connection; a well-framed
//! request with an unknown type or bad fields is a [`DecodeError::Invalid`]
//! answered with a typed error that echoes its id, and the connection stays.
//! Decoding never panics, whatever the input (a fuzz target checks).

use serde::Deserialize;
use uuid::Uuid;

/// The largest text frame accepted, in bytes.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// The longest request id.
pub const MAX_ID_CHARS: usize = 64;

/// A decoded request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub id: String,
    pub body: ClientMessage,
}

/// Every request a client may send.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    Join {
        /// Or `conference` with `account_token`: its owner needs no code.
        #[serde(default)]
        access_code: Option<String>,
        /// A conference's id, for its owner signed in with `account_token`.
        #[serde(default, deserialize_with = "id::conference")]
        conference: Option<Uuid>,
        security_code: Option<String>,
        moderator_pin: Option<String>,
        /// Not needed with `join_token`, which names the participant.
        #[serde(default)]
        name: Option<String>,
        /// The device credential this server issued to the client earlier.
        device_token: Option<String>,
        resume_token: Option<String>,
        /// A signed-in user's API token: the account becomes one of the
        /// participant's identities, and the conference's owner joins as
        /// its owner (a moderator nobody can remove).
        account_token: Option<String>,
        /// Instead of codes: a join token an application minted with its
        /// API key (docs/tokens.md).
        #[serde(default)]
        join_token: Option<String>,
    },
    Leave {},
    Ping {},
    Lock {},
    Unlock {},
    Remove {
        #[serde(deserialize_with = "id::participant")]
        participant: Uuid,
        #[serde(default)]
        block: bool,
    },
    ListBlocks {},
    Unblock {
        #[serde(deserialize_with = "id::block")]
        block: Uuid,
    },
    SetPermission {
        permission: PermissionName,
        audience: AudienceName,
    },
    Mute {
        #[serde(deserialize_with = "id::participant")]
        participant: Uuid,
        muted: bool,
    },
    Promote {
        #[serde(deserialize_with = "id::participant")]
        participant: Uuid,
    },
    Demote {
        #[serde(deserialize_with = "id::participant")]
        participant: Uuid,
    },
    NameCaller {
        #[serde(deserialize_with = "id::participant")]
        participant: Uuid,
        name: String,
    },
    Chat {
        text: String,
    },
    DeleteChat {
        #[serde(deserialize_with = "id::message")]
        message: Uuid,
    },
    RemoveDocument {
        #[serde(deserialize_with = "id::document")]
        document: Uuid,
    },
    StartRecording {},
    StopRecording {},
    Admit {
        #[serde(deserialize_with = "id::participant")]
        participant: Uuid,
    },
    Deny {
        #[serde(deserialize_with = "id::participant")]
        participant: Uuid,
    },
    AdmitAll {},
    SetWaitingRoom {
        setting: WaitingRoomName,
    },
    /// An SDP offer: on the publish connection (to the server) or to the
    /// peer; `tracks` maps each sent track id to what it is.
    MediaOffer {
        pc: PcName,
        sdp: String,
        #[serde(default)]
        tracks: std::collections::BTreeMap<String, SourceName>,
    },
    MediaAnswer {
        pc: PcName,
        sdp: String,
    },
    /// A trickled candidate, as the browser's `RTCIceCandidateInit` object.
    MediaCandidate {
        pc: PcName,
        candidate: serde_json::Value,
    },
    /// Whether the page shows `participant`'s camera or screen: the server
    /// sends a hidden or off-screen tile nothing.
    MediaWatch {
        #[serde(deserialize_with = "id::participant")]
        participant: Uuid,
        source: SourceName,
        visible: bool,
        /// The tile's height in device pixels, 1 to 8192: a simulcast
        /// publisher's smallest layer that fills it is sent.
        #[serde(default, deserialize_with = "tile_height")]
        height: Option<u32>,
    },
}

/// The largest tile height taken: above any screen.
pub const MAX_TILE_HEIGHT: u32 = 8192;

fn tile_height<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    use serde::de::{Deserialize, Error};
    match Option::<u32>::deserialize(d)? {
        Some(h) if !(1..=MAX_TILE_HEIGHT).contains(&h) => {
            Err(D::Error::custom("height: 1 to 8192 pixels"))
        }
        h => Ok(h),
    }
}

/// Ids, read so that a malformed one is refused without quoting it (the
/// uuid crate's own message does: ``found `n` at 0``).
mod id {
    use serde::de::{Deserialize, Deserializer, Error};
    use uuid::Uuid;

    fn parse<'de, D: Deserializer<'de>>(d: D, field: &str) -> Result<Uuid, D::Error> {
        let invalid = || D::Error::custom(format!("{field}: not a valid id"));
        let text = String::deserialize(d).map_err(|_| invalid())?;
        Uuid::parse_str(&text).map_err(|_| invalid())
    }

    pub fn participant<'de, D: Deserializer<'de>>(d: D) -> Result<Uuid, D::Error> {
        parse(d, "participant")
    }

    pub fn block<'de, D: Deserializer<'de>>(d: D) -> Result<Uuid, D::Error> {
        parse(d, "block")
    }

    pub fn message<'de, D: Deserializer<'de>>(d: D) -> Result<Uuid, D::Error> {
        parse(d, "message")
    }

    pub fn document<'de, D: Deserializer<'de>>(d: D) -> Result<Uuid, D::Error> {
        parse(d, "document")
    }

    /// An optional id: absent or `null` is `None`.
    pub fn conference<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Uuid>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => Uuid::parse_str(&text)
                .map(Some)
                .map_err(|_| D::Error::custom("conference: not a valid id")),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PcName {
    Publish,
    Subscribe,
    Peer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceName {
    Microphone,
    Camera,
    Screen,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermissionName {
    Chat,
    Share,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AudienceName {
    Everyone,
    Moderators,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitingRoomName {
    Off,
    Everyone,
    UnknownGuests,
}

/// Why a frame could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Not a request at all: close the connection with this reason.
    Violation(&'static str),
    /// A request that cannot be carried out as sent: answer `{"type":"error",
    /// "id":..,"code":..}` and keep the connection.
    Invalid {
        id: String,
        code: &'static str,
        detail: String,
    },
}

/// Decodes one text frame.
pub fn decode(frame: &str) -> Result<Request, DecodeError> {
    if frame.len() > MAX_FRAME_BYTES {
        return Err(DecodeError::Violation("frame_too_large"));
    }
    let mut value: serde_json::Value =
        serde_json::from_str(frame).map_err(|_| DecodeError::Violation("malformed_json"))?;
    let object = value
        .as_object_mut()
        .ok_or(DecodeError::Violation("not_an_object"))?;
    let id = match object.remove("id") {
        Some(serde_json::Value::String(id))
            if !id.is_empty() && id.chars().count() <= MAX_ID_CHARS =>
        {
            id
        }
        _ => return Err(DecodeError::Violation("missing_or_bad_id")),
    };
    let kind = match object.get("type") {
        Some(serde_json::Value::String(kind)) => format!("unknown variant `{kind}`"),
        _ => return Err(DecodeError::Violation("missing_type")),
    };
    match serde_json::from_value::<ClientMessage>(value) {
        Ok(body) => Ok(Request { id, body }),
        Err(e) => Err(DecodeError::Invalid {
            id,
            // The type itself, not a field's value (`audience`, `setting`).
            code: if e.to_string().starts_with(&kind) {
                "unknown_type"
            } else {
                "bad_request"
            },
            // serde's text without the offending value (it may be a PIN).
            detail: crate::http::describe_data_error(&e),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_decode_with_their_ids() {
        let r = decode(r#"{"type":"chat","id":"r1","text":"hello"}"#).unwrap();
        assert_eq!(
            r,
            Request {
                id: "r1".into(),
                body: ClientMessage::Chat {
                    text: "hello".into()
                }
            }
        );
        let r = decode(
            r#"{"type":"remove","id":"r2","participant":"6f1c2c3e-0000-4000-8000-000000000001"}"#,
        )
        .unwrap();
        assert!(matches!(r.body, ClientMessage::Remove { block: false, .. }));
        let r = decode(
            r#"{"type":"set_permission","id":"r3","permission":"share","audience":"moderators"}"#,
        )
        .unwrap();
        assert_eq!(
            r.body,
            ClientMessage::SetPermission {
                permission: PermissionName::Share,
                audience: AudienceName::Moderators
            }
        );
        let r =
            decode(r#"{"type":"join","id":"j","access_code":"1234567890","name":"Ada"}"#).unwrap();
        assert!(matches!(
            r.body,
            ClientMessage::Join {
                moderator_pin: None,
                ..
            }
        ));
    }

    #[test]
    fn protocol_violations_close_and_user_errors_keep_the_connection() {
        let violation = |f: &str| match decode(f) {
            Err(DecodeError::Violation(code)) => code,
            other => panic!("{f}: {other:?}"),
        };
        assert_eq!(violation("not json"), "malformed_json");
        assert_eq!(violation("[1,2]"), "not_an_object");
        assert_eq!(violation(r#"{"type":"ping"}"#), "missing_or_bad_id");
        assert_eq!(violation(r#"{"type":"ping","id":5}"#), "missing_or_bad_id");
        assert_eq!(violation(r#"{"type":"ping","id":""}"#), "missing_or_bad_id");
        assert_eq!(
            violation(&format!(r#"{{"type":"ping","id":"{}"}}"#, "x".repeat(65))),
            "missing_or_bad_id"
        );
        assert_eq!(violation(r#"{"id":"r"}"#), "missing_type");
        assert_eq!(
            violation(&format!(
                r#"{{"type":"chat","id":"r","text":"{}"}}"#,
                "x".repeat(MAX_FRAME_BYTES)
            )),
            "frame_too_large"
        );

        let invalid = |f: &str| match decode(f) {
            Err(DecodeError::Invalid { id, code, detail }) => (id, code, detail),
            other => panic!("{f}: {other:?}"),
        };
        assert_eq!(invalid(r#"{"type":"fly","id":"r9"}"#).1, "unknown_type");
        let (id, code, detail) = invalid(r#"{"type":"remove","id":"r8","participant":"nope"}"#);
        assert_eq!(
            (id.as_str(), code, detail.as_str()),
            ("r8", "bad_request", "participant: not a valid id"),
            "the value is not quoted"
        );
        for (frame, field) in [
            (
                r#"{"type":"unblock","id":"r","block":"not-an-id"}"#,
                "block",
            ),
            (r#"{"type":"delete_chat","id":"r","message":7}"#, "message"),
            (
                r#"{"type":"remove_document","id":"r","document":"x"}"#,
                "document",
            ),
            (
                r#"{"type":"mute","id":"r","participant":"n","muted":true}"#,
                "participant",
            ),
        ] {
            assert_eq!(
                invalid(frame).2,
                format!("{field}: not a valid id"),
                "{frame}"
            );
        }
        let (_, _, detail) = invalid(
            r#"{"type":"set_permission","id":"r","permission":"s3cret","audience":"everyone"}"#,
        );
        assert!(!detail.contains("s3cret"), "{detail}");
        assert_eq!(
            invalid(r#"{"type":"set_waiting_room","id":"r","setting":"sometimes"}"#).1,
            "bad_request",
            "a field's unknown value is not an unknown type"
        );
        assert_eq!(invalid(r#"{"type":"chat","id":"r7"}"#).1, "bad_request");
        assert_eq!(
            invalid(r#"{"type":"lock","id":"r6","extra":1}"#).1,
            "bad_request"
        );
        let (_, _, detail) = invalid(
            r#"{"type":"join","id":"j","access_code":"1","name":"A","moderator_pin":12345678}"#,
        );
        assert!(
            !detail.contains("12345678"),
            "a PIN sent with the wrong type is not echoed: {detail}"
        );
    }
}
