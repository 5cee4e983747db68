//! The telephony gateway's frame decoder never panics, and what it accepts
//! passed every check the endpoint relies on: a usable call id for a call,
//! a number of 3 to 20 digits, DTMF keys only from the keypad.
#![no_main]

use conclave::phone::frame::{decode, Frame, Refused, MAX_CALL_ID_CHARS, MAX_DIGITS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match decode(text) {
        Ok(Frame::Call { call, from }) => {
            assert!(!call.is_empty() && call.chars().count() <= MAX_CALL_ID_CHARS);
            let digits = from.strip_prefix('+').unwrap_or(&from);
            assert!((3..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()));
        }
        Ok(Frame::Dtmf { digits, .. }) => {
            assert!(!digits.is_empty() && digits.len() <= MAX_DIGITS);
            assert!(digits
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#'));
        }
        Ok(Frame::Hangup { .. }) | Err(Refused::MalformedJson) => {}
        Err(Refused::BadRequest { message, .. }) => assert!(!message.is_empty()),
    }
});
