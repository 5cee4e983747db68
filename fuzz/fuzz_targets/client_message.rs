//! The client-message decoder never panics, and what it accepts respects
//! the frame and id limits.
#![no_main]

use conclave::ws::protocol::{decode, MAX_FRAME_BYTES, MAX_ID_CHARS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(request) = decode(text) {
            assert!(text.len() <= MAX_FRAME_BYTES);
            assert!(!request.id.is_empty() && request.id.chars().count() <= MAX_ID_CHARS);
        }
    }
});
