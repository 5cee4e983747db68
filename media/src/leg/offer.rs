//! The SDP a leg speaks: the offer it writes, one `sendonly` section per
//! forwarded track, bundled on one ICE-lite transport; and the three
//! two things it reads from the client's answer.

use std::fmt::Write;

use crate::peer::{OPUS_PT, VP8_PT};

/// One section of the offer.
pub struct Section {
    pub mid: u32,
    pub audio: bool,
    /// `None`: the track went away; the section stays, `inactive`, so the
    /// others keep their place (JSEP never removes a section).
    pub sending: Option<Sending>,
}

/// What a live section sends.
pub struct Sending {
    pub ssrc: u32,
    /// The `msid` stream (the publisher, so a client groups its tracks)
    /// and track id.
    pub stream: String,
    pub track: String,
}

/// Puts a new track in the first inactive section of its kind, or in a
/// new section when there is none; returns its mid. Reusing sections keeps
/// the offer (and the client's answer, which must fit in one WebSocket
/// frame) as long as the most tracks sent at once, however many came and
/// went: a client's transceiver takes the new track as a changed sender.
pub fn place(sections: &mut Vec<Section>, audio: bool, sending: Sending) -> u32 {
    if let Some(free) = sections
        .iter_mut()
        .find(|s| s.audio == audio && s.sending.is_none())
    {
        free.sending = Some(sending);
        return free.mid;
    }
    let mid = sections.len() as u32;
    sections.push(Section {
        mid,
        audio,
        sending: Some(sending),
    });
    mid
}

/// Frees the section that sends `ssrc` for the next track of its kind.
pub fn free(sections: &mut [Section], ssrc: u32) {
    for section in sections {
        if section.sending.as_ref().is_some_and(|x| x.ssrc == ssrc) {
            section.sending = None;
        }
    }
}

/// What the leg's side of the session is.
pub struct Local<'a> {
    pub ufrag: &'a str,
    pub pwd: &'a str,
    /// SHA-256 of the certificate, `AB:CD:…`.
    pub fingerprint: &'a str,
    /// The host candidates: the media port at the announced address, and
    /// the ICE-TCP port's passive one.
    pub candidates: crate::socket::Announced,
    pub session_id: u64,
    pub version: u64,
    /// Asks for transport-wide congestion control feedback (bwe.rs).
    pub twcc: bool,
    /// The SSRC of the padding that probes the link (leg/probe.rs): a
    /// section of its own, first, so it never moves.
    pub probe: Option<u32>,
}

/// The offer: `sections` in mid order.
pub fn write(local: &Local<'_>, sections: &[Section]) -> String {
    let mut s = String::with_capacity(512 + sections.len() * 512);
    let mids: Vec<String> = local
        .probe
        .map(|_| PROBE_MID.to_owned())
        .into_iter()
        .chain(sections.iter().map(|x| x.mid.to_string()))
        .collect();
    // `write!` to a String cannot fail.
    let _ = write!(
        s,
        "v=0\r\no=- {} {} IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
         a=fingerprint:sha-256 {}\r\na=ice-lite\r\na=group:BUNDLE {}\r\n\
         a=msid-semantic: WMS *\r\n",
        local.session_id,
        local.version,
        local.fingerprint,
        mids.join(" "),
    );
    if let Some(ssrc) = local.probe {
        let pt = VP8_PT;
        let _ = write!(
            s,
            "m=video 9 UDP/TLS/RTP/SAVPF {pt}\r\nc=IN IP4 0.0.0.0\r\n\
             a=setup:actpass\r\na=mid:{PROBE_MID}\r\na=ice-ufrag:{}\r\na=ice-pwd:{}\r\n\
             a=rtcp-mux\r\na=rtcp-rsize\r\na=rtpmap:{pt} VP8/90000\r\n\
             a=extmap:{} {}\r\na=rtcp-fb:{pt} transport-cc\r\n\
             a=msid:- {PROBE_MID}\r\na=ssrc:{ssrc} cname:{PROBE_MID}\r\na=sendonly\r\n",
            local.ufrag,
            local.pwd,
            crate::bwe::TWCC_ID,
            crate::bwe::TWCC_URI,
        );
        candidates(&mut s, local);
    }
    for (i, section) in sections.iter().enumerate() {
        let (kind, pt) = if section.audio {
            ("audio", OPUS_PT)
        } else {
            ("video", VP8_PT)
        };
        let _ = write!(
            s,
            "m={kind} 9 UDP/TLS/RTP/SAVPF {pt}\r\nc=IN IP4 0.0.0.0\r\n\
             a=setup:actpass\r\na=mid:{}\r\na=ice-ufrag:{}\r\na=ice-pwd:{}\r\n\
             a=rtcp-mux\r\na=rtcp-rsize\r\n",
            section.mid, local.ufrag, local.pwd,
        );
        if section.audio {
            let _ = write!(
                s,
                "a=rtpmap:{pt} opus/48000/2\r\na=fmtp:{pt} minptime=10;useinbandfec=1\r\n"
            );
        } else {
            // goog-remb: the client's own estimator says what it can
            // receive (docs/media.md "Bandwidth").
            let _ = write!(
                s,
                "a=rtpmap:{pt} VP8/90000\r\na=rtcp-fb:{pt} goog-remb\r\n\
                 a=rtcp-fb:{pt} nack\r\na=rtcp-fb:{pt} nack pli\r\n\
                 a=rtcp-fb:{pt} ccm fir\r\n"
            );
        }
        if local.twcc {
            let _ = write!(
                s,
                "a=extmap:{} {}\r\na=rtcp-fb:{pt} transport-cc\r\n",
                crate::bwe::TWCC_ID,
                crate::bwe::TWCC_URI,
            );
        }
        match &section.sending {
            Some(x) => {
                let _ = write!(
                    s,
                    "a=msid:{stream} {track}\r\na=ssrc:{ssrc} cname:{stream}\r\n\
                     a=ssrc:{ssrc} msid:{stream} {track}\r\na=sendonly\r\n",
                    stream = x.stream,
                    track = x.track,
                    ssrc = x.ssrc,
                );
            }
            None => s.push_str("a=inactive\r\n"),
        }
        if i == 0 && local.probe.is_none() {
            candidates(&mut s, local);
        }
    }
    s
}

/// The probe's section's MID.
const PROBE_MID: &str = "probe";

/// The server's candidates, in the first section (the others are bundled).
fn candidates(s: &mut String, local: &Local<'_>) {
    let udp = local.candidates.udp;
    let _ = write!(
        s,
        "a=candidate:1 1 udp 2130706431 {} {} typ host\r\n",
        udp.ip(),
        udp.port(),
    );
    // Below UDP, so a client that has both uses UDP (RFC 6544 §4.2 gives
    // TCP host candidates a lower type preference).
    if let Some(tcp) = local.candidates.tcp {
        let _ = write!(
            s,
            "a=candidate:2 1 tcp 1518280447 {} {} typ host tcptype passive\r\n",
            tcp.ip(),
            tcp.port(),
        );
    }
    s.push_str("a=end-of-candidates\r\n");
}

/// What the leg needs from the client's answer.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    /// SHA-256 of the client's certificate, as written.
    pub fingerprint: String,
    /// The client said `passive`: the server is the DTLS client. Browsers
    /// say `active`; a full ICE agent answering a lite one may say
    /// `passive` (as `rtc` does).
    pub server_connects: bool,
    /// The client takes the transport-wide sequence numbers.
    pub twcc: bool,
}

/// Why an answer cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub enum BadAnswer {
    /// No `a=fingerprint`, or none with SHA-256.
    NoFingerprint,
    /// `a=setup` is neither `active` nor `passive` (RFC 5763 §5).
    NoSetup,
    /// The DTLS association for it could not be made (the server's own
    /// configuration, not the answer).
    Dtls(String),
}

/// Reads an answer to [`write`]'s offer.
pub fn read(sdp: &str) -> Result<Answer, BadAnswer> {
    let mut fingerprint = None;
    let mut setup = None;
    let mut twcc = false;
    for line in sdp.lines() {
        let line = line.trim_end();
        twcc |= line
            .strip_prefix("a=extmap:")
            .is_some_and(|v| v.ends_with(crate::bwe::TWCC_URI));
        if let Some(v) = line.strip_prefix("a=fingerprint:") {
            let mut parts = v.split_whitespace();
            if parts
                .next()
                .is_some_and(|a| a.eq_ignore_ascii_case("sha-256"))
            {
                if let Some(value) = parts.next() {
                    fingerprint.get_or_insert_with(|| value.to_owned());
                }
            }
        } else if let Some(v) = line.strip_prefix("a=setup:") {
            setup = match v {
                "active" => Some(false),
                "passive" => Some(true),
                _ => None,
            };
        }
    }
    Ok(Answer {
        twcc,
        server_connects: setup.ok_or(BadAnswer::NoSetup)?,
        fingerprint: fingerprint.ok_or(BadAnswer::NoFingerprint)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Local<'static> {
        Local {
            ufrag: "uf",
            pwd: "pw",
            fingerprint: "AA:BB",
            candidates: crate::socket::Announced {
                udp: "203.0.113.5:40000".parse().unwrap(),
                tcp: Some("203.0.113.5:40443".parse().unwrap()),
            },
            session_id: 7,
            version: 2,
            twcc: false,
            probe: None,
        }
    }

    #[test]
    fn each_track_gets_a_bundled_sendonly_section_and_gone_ones_stay_inactive() {
        let sdp = write(
            &local(),
            &[
                Section {
                    mid: 0,
                    audio: true,
                    sending: Some(Sending {
                        ssrc: 11,
                        stream: "p1".into(),
                        track: "microphone-1".into(),
                    }),
                },
                Section {
                    mid: 1,
                    audio: false,
                    sending: None,
                },
            ],
        );
        assert!(sdp.contains("a=group:BUNDLE 0 1\r\n"), "{sdp}");
        assert!(sdp.contains("a=ice-lite\r\n"));
        assert!(sdp.contains("a=fingerprint:sha-256 AA:BB\r\n"));
        assert!(sdp.contains("a=ssrc:11 msid:p1 microphone-1\r\na=sendonly\r\n"));
        assert!(sdp.contains("m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"));
        assert!(sdp.contains("a=rtcp-fb:96 nack pli\r\n"));
        assert!(
            sdp.ends_with("a=rtcp-fb:96 ccm fir\r\na=inactive\r\n"),
            "{sdp}"
        );
        assert_eq!(
            sdp.matches("a=candidate:1 1 udp 2130706431 203.0.113.5 40000 typ host")
                .count(),
            1
        );
        assert_eq!(
            sdp.matches(
                "a=candidate:2 1 tcp 1518280447 203.0.113.5 40443 typ host tcptype passive\r\n\
                 a=end-of-candidates"
            )
            .count(),
            1,
            "one passive TCP candidate, below the UDP one: {sdp}"
        );
        assert_eq!(sdp.matches("a=setup:actpass").count(), 2);
    }

    #[test]
    fn a_new_track_takes_the_first_free_section_of_its_kind() {
        let sending = |ssrc| Sending {
            ssrc,
            stream: "p".into(),
            track: format!("t{ssrc}"),
        };
        let mut sections = Vec::new();
        assert_eq!(place(&mut sections, true, sending(1)), 0);
        assert_eq!(place(&mut sections, false, sending(2)), 1);
        assert_eq!(place(&mut sections, false, sending(3)), 2);
        free(&mut sections, 2);
        free(&mut sections, 1);
        assert_eq!(
            place(&mut sections, false, sending(4)),
            1,
            "video reuses video"
        );
        assert_eq!(
            place(&mut sections, false, sending(5)),
            3,
            "none free: a new one"
        );
        assert_eq!(place(&mut sections, true, sending(6)), 0);
        assert_eq!(sections.len(), 4);
        assert_eq!(sections[1].sending.as_ref().map(|s| s.ssrc), Some(4));
    }

    #[test]
    fn an_offer_asks_for_transport_wide_feedback_only_when_estimating() {
        let section = Section {
            mid: 0,
            audio: false,
            sending: None,
        };
        let plain = write(&local(), std::slice::from_ref(&section));
        assert!(!plain.contains("transport-cc"), "{plain}");
        let estimating = write(
            &Local {
                twcc: true,
                probe: Some(77),
                ..local()
            },
            &[section],
        );
        // The probe's section comes first, bundled, with the candidates.
        assert!(
            estimating.contains("a=group:BUNDLE probe 0\r\n"),
            "{estimating}"
        );
        let probe =
            &estimating[estimating.find("m=video").unwrap()..estimating.rfind("m=video").unwrap()];
        assert!(
            probe.contains("a=mid:probe\r\n") && probe.contains("a=ssrc:77 cname:probe\r\n"),
            "{probe}"
        );
        assert!(
            probe.contains("a=msid:- probe\r\n") && probe.contains("a=candidate:1 "),
            "{probe}"
        );
        assert_eq!(estimating.matches("a=candidate:1 ").count(), 1);
        let ext = format!(
            "a=extmap:3 {}\r\na=rtcp-fb:96 transport-cc\r\n",
            crate::bwe::TWCC_URI
        );
        assert!(estimating.contains(&ext), "{estimating}");
    }

    #[test]
    fn an_answer_must_pick_a_dtls_role_and_carry_a_sha256_fingerprint() {
        let ok = "v=0\r\na=fingerprint:sha-1 00:11\r\na=fingerprint:sha-256 0A:0B\r\nm=audio 9 x\r\na=setup:active\r\n";
        assert_eq!(
            read(ok),
            Ok(Answer {
                fingerprint: "0A:0B".into(),
                server_connects: false,
                twcc: false,
            })
        );
        let passive = ok.replace("setup:active", "setup:passive");
        assert!(read(&passive).unwrap().server_connects);
        let twcc = format!("{ok}a=extmap:3 {}\r\n", crate::bwe::TWCC_URI);
        assert!(read(&twcc).unwrap().twcc, "the client takes the numbers");
        let actpass = ok.replace("setup:active", "setup:actpass");
        assert_eq!(read(&actpass), Err(BadAnswer::NoSetup));
        let no_setup = ok.replace("a=setup:active\r\n", "");
        assert_eq!(read(&no_setup), Err(BadAnswer::NoSetup));
        let sha1_only = ok.replace("a=fingerprint:sha-256 0A:0B\r\n", "");
        assert_eq!(read(&sha1_only), Err(BadAnswer::NoFingerprint));
    }
}
