//! The SIP edge's reading of what arrives never panics: a SIP message (as
//! a datagram and as a stream), the SDP offer in its body, an
//! Authorization header, a caller's URI, an INFO body, a prompt file. What
//! a message parse accepts fits the size limit, and a response printed for
//! it reads back as the same transaction.
#![no_main]

use conclave::sip::message::{parse, response, uri_user, MAX_MESSAGE_BYTES};
use conclave::sip::{call, prompts, sdp, trunks};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for stream in [false, true] {
        if let Ok((used, m)) = parse(data, stream) {
            assert!(used <= data.len() && m.body.len() <= MAX_MESSAGE_BYTES);
            if m.method().is_some() {
                let out = response(&m, 200, Some("t"), &[], None);
                let (_, back) = parse(&out, true).expect("our response reads back");
                assert_eq!(back.call_id, m.call_id);
                assert_eq!(back.cseq.cseq, m.cseq.cseq);
            }
            let _ = sdp::read_offer(&m.body);
        }
    }
    let _ = sdp::read_offer(data);
    let _ = prompts::read_wav(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = trunks::digest_answer(text);
        let _ = uri_user(text);
        let _ = call::info_keys(Some("application/dtmf-relay"), data);
    }
});
