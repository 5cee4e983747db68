//! The `simulcast` scenario's cameras: three RID layers per track, named
//! on the wire as Chromium names them.

use std::sync::Arc;

use conclave_media::rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use conclave_media::webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;

/// A camera's simulcast layers: RID, share of `--video-pps`, height.
pub(super) const LAYERS: [(&str, f64, u16); 3] =
    [("q", 0.25, 180), ("h", 0.5, 360), ("f", 1.0, 720)];

/// A video track sent as [`LAYERS`], one SSRC each.
pub(super) fn simulcast_track() -> Arc<TrackLocalStaticRTP> {
    use conclave_media::rtc::rtp_transceiver::rtp_sender::{
        RTCRtpCodingParameters, RTCRtpEncodingParameters,
    };
    let encodings = LAYERS
        .iter()
        .map(|(rid, _, _)| RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                rid: (*rid).into(),
                ssrc: Some(rand::random::<u32>().max(1)),
                ..Default::default()
            },
            codec: conclave_media::peer::vp8(),
            ..Default::default()
        })
        .collect();
    Arc::new(TrackLocalStaticRTP::new(
        conclave_media::rtc::media_stream::MediaStreamTrack::new(
            "load".into(),
            "v".into(),
            "v".into(),
            RtpCodecKind::Video,
            encodings,
        ),
    ))
}

/// The header extensions that name a simulcast layer's packets (RFC 8852):
/// the sender here does not add them, and the server finds layers by them.
#[derive(Clone)]
pub(super) struct Tags {
    pub mid_id: u8,
    pub mid: String,
    pub rid_id: u8,
}

impl Tags {
    /// From the publisher's offer: the video section's MID and the two
    /// extensions' numbers.
    pub(super) fn of(sdp: &str) -> Option<Self> {
        let video = &sdp[sdp.find("m=video")?..];
        let attr = |prefix: &str| -> Option<&str> {
            video
                .lines()
                .find_map(|l| l.strip_prefix(prefix))
                .map(str::trim)
        };
        let ext = |uri: &str| -> Option<u8> {
            video.lines().find_map(|l| {
                let rest = l.strip_prefix("a=extmap:")?;
                let (id, name) = rest.split_once(' ')?;
                (name.trim() == uri).then(|| id.split('/').next()?.parse().ok())?
            })
        };
        Some(Self {
            mid_id: ext("urn:ietf:params:rtp-hdrext:sdes:mid")?,
            mid: attr("a=mid:")?.to_owned(),
            rid_id: ext("urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id")?,
        })
    }
}
