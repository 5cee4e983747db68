//! What the forwarder reads from a client's SDP itself: the id the client
//! chose for the audio-level header extension, which the forwarder needs
//! to read levels off raw packets.

/// The RFC 6464 extension URI.
pub const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

/// The extmap id of the audio-level extension in the first audio section.
pub fn audio_level_id(sdp: &str) -> Option<u8> {
    let mut in_audio = false;
    for line in sdp.lines() {
        let line = line.trim_end();
        if let Some(m) = line.strip_prefix("m=") {
            in_audio = m.starts_with("audio");
            continue;
        }
        if !in_audio {
            continue;
        }
        let Some(rest) = line.strip_prefix("a=extmap:") else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let id = parts.next()?;
        if parts.next() == Some(AUDIO_LEVEL_URI) {
            // `id` may carry a direction: `1/sendonly`.
            return id
                .split('/')
                .next()?
                .parse()
                .ok()
                .filter(|i| (1..=14).contains(i));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_audio_level_id_in_the_audio_section_only() {
        let sdp = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=extmap:3 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n\
                   m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=extmap:2 http://x\r\na=extmap:1/sendonly urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n";
        assert_eq!(audio_level_id(sdp), Some(1));
        assert_eq!(audio_level_id("m=audio 9 X 111\r\n"), None);
        assert_eq!(
            audio_level_id(
                "m=audio 9 X\r\na=extmap:99 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
            ),
            None,
            "a one-byte id is 1 to 14"
        );
        assert_eq!(audio_level_id("m=audio\r\na=extmap:\r\n"), None);
    }
}
