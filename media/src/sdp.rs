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

/// Behind a 1:1 NAT: `line` (a candidate attribute, with or without the
/// `a=` prefix) with a host candidate's private address replaced by the
/// public one, the port kept (the NAT maps it one to one). Other lines and
/// other candidate types are returned as they are.
pub fn announce(line: &str, public: std::net::IpAddr) -> String {
    let (prefix, body) = match line.strip_prefix("a=") {
        Some(rest) => ("a=", rest),
        None => ("", line),
    };
    if !body.starts_with("candidate:") {
        return line.to_owned();
    }
    let mut fields: Vec<&str> = body.split(' ').collect();
    // foundation component transport priority address port "typ" type ...
    if fields.len() < 8 || fields[6] != "typ" || fields[7] != "host" {
        return line.to_owned();
    }
    let public = public.to_string();
    fields[4] = &public;
    format!("{prefix}{}", fields.join(" "))
}

/// [`announce`] for every candidate of an SDP.
pub fn announce_all(sdp: &str, public: std::net::IpAddr) -> String {
    let ending = if sdp.contains("\r\n") { "\r\n" } else { "\n" };
    let mut out: Vec<String> = sdp.lines().map(|l| announce(l, public)).collect();
    if sdp.ends_with(ending) {
        out.push(String::new());
    }
    out.join(ending)
}

#[cfg(test)]
mod announce_tests {
    use super::*;

    #[test]
    fn host_candidates_take_the_public_address_and_keep_their_port() {
        let public = std::net::IpAddr::from([203, 0, 113, 7]);
        assert_eq!(
            announce(
                "candidate:1 1 udp 2130706431 10.0.0.5 40002 typ host",
                public
            ),
            "candidate:1 1 udp 2130706431 203.0.113.7 40002 typ host"
        );
        assert_eq!(
            announce(
                "a=candidate:1 1 udp 2130706431 10.0.0.5 40002 typ host generation 0",
                public
            ),
            "a=candidate:1 1 udp 2130706431 203.0.113.7 40002 typ host generation 0"
        );
        let relay = "candidate:2 1 udp 5 198.51.100.1 3478 typ relay raddr 10.0.0.5 rport 40002";
        assert_eq!(announce(relay, public), relay, "only host candidates");
        assert_eq!(announce("a=mid:0", public), "a=mid:0");
        assert_eq!(announce("candidate:broken", public), "candidate:broken");
        let sdp = "v=0\r\na=candidate:1 1 udp 1 10.0.0.5 40002 typ host\r\na=end\r\n";
        assert_eq!(
            announce_all(sdp, public),
            "v=0\r\na=candidate:1 1 udp 1 203.0.113.7 40002 typ host\r\na=end\r\n"
        );
    }
}
