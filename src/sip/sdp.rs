//! The caller's SDP offer, read with the `rtc` crate's SDP parser (the same
//! one the WebRTC side uses), and our answer: one audio stream, G.711
//! (PCMU or PCMA, the offerer's preference first) and RFC 4733
//! `telephone-event` when offered. Plain RTP: trunks do not encrypt media
//! on the way to us (docs/phone.md).

use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};

use rtc::sdp::description::session::SessionDescription;

/// A codec both sides speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Pcmu,
    Pcma,
}

impl Codec {
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }
}

/// What the offer settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// Where the caller wants RTP; symmetric RTP may correct it.
    pub remote: SocketAddr,
    pub codec: Codec,
    /// The offer's payload type for `telephone-event/8000`.
    pub dtmf: Option<u8>,
}

/// Why an offer cannot be answered (488 Not Acceptable Here).
#[derive(Debug, PartialEq, Eq)]
pub enum Unacceptable {
    Malformed,
    NoAudio,
    NoCodec,
}

pub fn read_offer(body: &[u8]) -> Result<Negotiated, Unacceptable> {
    let sdp = SessionDescription::unmarshal(&mut Cursor::new(body))
        .map_err(|_| Unacceptable::Malformed)?;
    let session_addr = sdp
        .connection_information
        .as_ref()
        .and_then(|c| c.address.as_ref())
        .map(|a| a.address.clone());
    let audio = sdp
        .media_descriptions
        .iter()
        .find(|m| {
            m.media_name.media == "audio"
                && m.media_name.port.value > 0
                && m.media_name.protos.join("/") == "RTP/AVP"
        })
        .ok_or(Unacceptable::NoAudio)?;
    let addr = audio
        .connection_information
        .as_ref()
        .and_then(|c| c.address.as_ref())
        .map(|a| a.address.clone())
        .or(session_addr)
        .ok_or(Unacceptable::Malformed)?;
    // `c=IN IP4 192.0.2.1/127` carries a TTL for multicast only.
    let ip: IpAddr = addr
        .split('/')
        .next()
        .unwrap_or("")
        .parse()
        .map_err(|_| Unacceptable::Malformed)?;
    let port = u16::try_from(audio.media_name.port.value).map_err(|_| Unacceptable::Malformed)?;
    let rtpmap = |pt: &str| -> Option<String> {
        audio.attributes.iter().find_map(|a| {
            let v = a.value.as_deref()?;
            let (p, codec) = v.split_once(' ')?;
            (a.key == "rtpmap" && p == pt).then(|| codec.to_ascii_lowercase())
        })
    };
    let mut codec = None;
    let mut dtmf = None;
    for pt in &audio.media_name.formats {
        let map = rtpmap(pt);
        match (pt.as_str(), map.as_deref()) {
            ("0", _) | (_, Some("pcmu/8000")) if codec.is_none() => codec = Some(Codec::Pcmu),
            ("8", _) | (_, Some("pcma/8000")) if codec.is_none() => codec = Some(Codec::Pcma),
            (p, Some("telephone-event/8000")) if dtmf.is_none() => dtmf = p.parse().ok(),
            _ => {}
        }
    }
    Ok(Negotiated {
        remote: SocketAddr::new(ip, port),
        codec: codec.ok_or(Unacceptable::NoCodec)?,
        dtmf,
    })
}

/// Our answer: `address` and `port` are where we take RTP; `session` and
/// `version` fill the origin line (RFC 4566: the version grows with each
/// change).
pub fn answer(n: &Negotiated, address: IpAddr, port: u16, session: u64, version: u64) -> String {
    let family = if address.is_ipv4() { "IP4" } else { "IP6" };
    let pt = n.codec.payload_type();
    let mut formats = pt.to_string();
    let mut attributes = format!("a=rtpmap:{pt} {}/8000\r\n", n.codec.name());
    if let Some(d) = n.dtmf {
        formats.push_str(&format!(" {d}"));
        attributes.push_str(&format!(
            "a=rtpmap:{d} telephone-event/8000\r\na=fmtp:{d} 0-16\r\n"
        ));
    }
    format!(
        "v=0\r\no=conclave {session} {version} IN {family} {address}\r\ns=Conclave\r\n\
c=IN {family} {address}\r\nt=0 0\r\nm=audio {port} RTP/AVP {formats}\r\n{attributes}\
a=ptime:20\r\na=sendrecv\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\n\
t=0 0\r\nm=audio 40000 RTP/AVP 9 8 0 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";

    #[test]
    fn the_offerers_first_g711_and_its_dtmf_are_taken() {
        let n = read_offer(OFFER.as_bytes()).unwrap();
        assert_eq!(
            n.remote,
            "192.0.2.10:40000".parse::<std::net::SocketAddr>().unwrap()
        );
        assert_eq!(n.codec, Codec::Pcma);
        assert_eq!(n.dtmf, Some(101));
        let a = answer(&n, "198.51.100.1".parse().unwrap(), 20000, 7, 1);
        let back = read_offer(a.as_bytes()).unwrap();
        assert_eq!(back.codec, Codec::Pcma);
        assert_eq!(back.dtmf, Some(101));
        assert_eq!(
            back.remote,
            "198.51.100.1:20000"
                .parse::<std::net::SocketAddr>()
                .unwrap()
        );
    }

    #[test]
    fn offers_we_cannot_answer_say_why() {
        assert_eq!(read_offer(b"garbage"), Err(Unacceptable::Malformed));
        let opus = OFFER
            .replace("9 8 0 101", "111")
            .replace("a=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n", "");
        assert_eq!(read_offer(opus.as_bytes()), Err(Unacceptable::NoCodec));
        let video = OFFER.replace("m=audio", "m=video");
        assert_eq!(read_offer(video.as_bytes()), Err(Unacceptable::NoAudio));
        let srtp = OFFER.replace("RTP/AVP", "RTP/SAVP");
        assert_eq!(read_offer(srtp.as_bytes()), Err(Unacceptable::NoAudio));
    }
}
