//! The telephony gateway's frames, decoded and checked before anything
//! acts on them (the wire format is in docs/protocol.md). Pure, so that the
//! fuzz target `gateway_frame` drives exactly what the endpoint runs.

use serde::Deserialize;
use serde_json::Value;

/// Longest call id, in characters.
pub const MAX_CALL_ID_CHARS: usize = 64;
/// Most DTMF keys in one frame.
pub const MAX_DIGITS: usize = 64;

/// A frame that passed every check.
#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Frame {
    /// `from` is 3 to 20 digits, with or without a leading `+`.
    Call {
        call: String,
        from: String,
    },
    /// `digits` is 1 to [`MAX_DIGITS`] of `0-9`, `*` and `#`.
    Dtmf {
        call: String,
        digits: String,
    },
    Hangup {
        call: String,
    },
}

/// Why a frame is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not JSON: the connection is closed.
    MalformedJson,
    /// Answered with a `bad_request` error for `call` (when the frame named
    /// a usable one); the connection stays.
    BadRequest {
        call: Option<String>,
        message: String,
    },
}

pub fn decode(text: &str) -> Result<Frame, Refused> {
    let value = serde_json::from_str::<Value>(text).map_err(|_| Refused::MalformedJson)?;
    let call_id = value.get("call").and_then(Value::as_str).map(str::to_owned);
    let frame = serde_json::from_value::<Frame>(value).map_err(|_| Refused::BadRequest {
        call: call_id,
        message: "unknown type, or a missing, extra or mistyped field".into(),
    })?;
    let call = match &frame {
        Frame::Call { call, .. } | Frame::Dtmf { call, .. } | Frame::Hangup { call } => call,
    };
    let valid_id = !call.is_empty() && call.chars().count() <= MAX_CALL_ID_CHARS;
    let bad = |message: &str| Refused::BadRequest {
        call: valid_id.then(|| call.clone()),
        message: message.to_owned(),
    };
    match &frame {
        Frame::Call { from, .. } => {
            let digits = from.strip_prefix('+').unwrap_or(from);
            let valid_number =
                (3..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
            if !valid_id {
                return Err(bad("call is not valid"));
            }
            if !valid_number {
                return Err(bad("from is not valid"));
            }
        }
        Frame::Dtmf { digits, .. } => {
            let valid = !digits.is_empty()
                && digits.len() <= MAX_DIGITS
                && digits
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#');
            if !valid {
                return Err(bad("digits must be 1 to 64 of 0-9, * and #"));
            }
        }
        Frame::Hangup { .. } => {}
    }
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(call: Option<&str>, message: &str) -> Result<Frame, Refused> {
        Err(Refused::BadRequest {
            call: call.map(str::to_owned),
            message: message.to_owned(),
        })
    }

    #[test]
    fn frames_are_checked_before_anything_acts_on_them() {
        assert_eq!(
            decode(r#"{"type":"call","call":"c1","from":"+4412345"}"#),
            Ok(Frame::Call {
                call: "c1".into(),
                from: "+4412345".into()
            })
        );
        assert_eq!(decode("{"), Err(Refused::MalformedJson));
        assert_eq!(
            decode(r#"{"type":"dial","call":"c1"}"#),
            bad(
                Some("c1"),
                "unknown type, or a missing, extra or mistyped field"
            )
        );
        assert_eq!(
            decode(r#"{"type":"call","call":"c1","from":"+12"}"#),
            bad(Some("c1"), "from is not valid")
        );
        let long = "x".repeat(65);
        assert_eq!(
            decode(&format!(
                r#"{{"type":"call","call":"{long}","from":"+4412345"}}"#
            )),
            bad(None, "call is not valid"),
            "an unusable call id is not echoed"
        );
        assert_eq!(
            decode(r#"{"type":"dtmf","call":"c1","digits":"12a"}"#),
            bad(Some("c1"), "digits must be 1 to 64 of 0-9, * and #")
        );
        assert_eq!(
            decode(r#"{"type":"hangup","call":"c1"}"#),
            Ok(Frame::Hangup { call: "c1".into() })
        );
    }
}
