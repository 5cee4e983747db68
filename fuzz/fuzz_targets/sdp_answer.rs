//! The SDP the media plane reads from clients never panics it: the answer
//! a subscribe leg takes (its fingerprint and DTLS role, then the DTLS
//! association made from them) and the audio-level id read off a publish
//! offer. An accepted answer named a SHA-256 fingerprint and a role.
#![no_main]

use std::sync::OnceLock;
use std::time::Instant;

use conclave_media::conn::Certificate;
use conclave_media::leg::{offer, Leg};
use conclave_media::sdp::audio_level_id;
use libfuzzer_sys::fuzz_target;

fn certificate() -> &'static Certificate {
    static CERTIFICATE: OnceLock<Certificate> = OnceLock::new();
    CERTIFICATE.get_or_init(Certificate::default)
}

fuzz_target!(|data: &[u8]| {
    let Ok(sdp) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(id) = audio_level_id(sdp) {
        assert!((1..=14).contains(&id));
    }
    if let Ok(answer) = offer::read(sdp) {
        assert!(sdp.contains(&answer.fingerprint));
    }
    let now = Instant::now();
    let mut leg = Leg::new(
        certificate().current().unwrap(),
        "fuzzUfrag0123".into(),
        "fuzzPasswordOf24Characters".into(),
        now,
    )
    .unwrap();
    if leg.answer(now, sdp).is_ok() {
        // A renegotiated answer is checked again and changes nothing.
        let _ = leg.answer(now, sdp);
    }
});
