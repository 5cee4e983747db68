//! What both ends of a connection to the server speak: the codecs the
//! server forwards (Opus and VP8), the audio-level, MID and RID
//! extensions, the
//! interceptors of a publish connection (NACK, reports, TWCC), one that
//! hands keyframe requests up to a client application, and a ready-made
//! RTP track for webrtc clients (tests, the load tool).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use rtc::interceptor::{Attribute, Interceptor, Packet, Registry, Slot, StreamInfo, TaggedPacket};
use rtc::peer_connection::configuration::media_engine::{
    MediaEngine, MIME_TYPE_OPUS, MIME_TYPE_VP8,
};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use rtc::sansio::Protocol;

use crate::sdp::AUDIO_LEVEL_URI;

/// The payload types the server offers; a publisher's own are mapped to
/// these when forwarded.
pub const OPUS_PT: u8 = 111;
pub const VP8_PT: u8 = 96;

pub fn opus() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

pub fn vp8() -> RTCRtpCodec {
    let fb = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    };
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: 90000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![fb("nack", ""), fb("nack", "pli"), fb("ccm", "fir")],
    }
}

/// A track that sends ready-made RTP: Opus for audio, VP8 for video, on
/// one SSRC. `stream` and `id` become the `msid` the other side sees.
pub fn rtp_track(
    stream: String,
    id: String,
    kind: RtpCodecKind,
    ssrc: u32,
) -> Arc<webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP> {
    let codec = if kind == RtpCodecKind::Audio {
        opus()
    } else {
        vp8()
    };
    Arc::new(
        webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP::new(
            rtc::media_stream::MediaStreamTrack::new(
                stream,
                id.clone(),
                id,
                kind,
                vec![rtc::rtp_transceiver::rtp_sender::RTCRtpEncodingParameters {
                    rtp_coding_parameters:
                        rtc::rtp_transceiver::rtp_sender::RTCRtpCodingParameters {
                            ssrc: Some(ssrc),
                            ..Default::default()
                        },
                    codec,
                    ..Default::default()
                }],
            ),
        ),
    )
}

/// The codecs and extensions every server connection speaks.
pub fn media_engine() -> webrtc::error::Result<MediaEngine> {
    let mut m = MediaEngine::default();
    m.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus(),
            payload_type: OPUS_PT,
        },
        RtpCodecKind::Audio,
    )?;
    m.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: vp8(),
            payload_type: VP8_PT,
        },
        RtpCodecKind::Video,
    )?;
    m.register_header_extension(
        RTCRtpHeaderExtensionCapability {
            uri: AUDIO_LEVEL_URI.to_owned(),
        },
        RtpCodecKind::Audio,
        None,
    )?;
    // MID and RID: a simulcast publisher's layers carry no SSRC in its
    // offer, only these (RFC 8852).
    rtc::peer_connection::configuration::interceptor_registry::configure_simulcast_extension_headers(&mut m)?;
    Ok(m)
}

/// The server's chain for a connection that only receives (publish): NACKs
/// for what the publisher lost, TWCC feedback for its bandwidth estimate,
/// receiver reports. Every interceptor sits on every packet's path, so a
/// connection gets only those that act on its direction.
pub(crate) fn receiving_interceptors(engine: &mut MediaEngine) -> webrtc::error::Result<Registry> {
    use rtc::interceptor::{NackGeneratorBuilder, ReceiverReportBuilder};
    use rtc::peer_connection::configuration::interceptor_registry::configure_twcc_receiver_only;
    let registry = Registry::new()
        .with(Slot::NackGenerator, NackGeneratorBuilder::new().build())
        .with(Slot::ReceiverReport, ReceiverReportBuilder::new().build());
    configure_twcc_receiver_only(registry, engine)
}

/// Marks inbound keyframe requests (PLI, FIR) for a client application,
/// which makes a keyframe; its own NACK responder answers NACKs. All other
/// inbound RTCP stays with the interceptors that act on it. Sits last in
/// the chain.
#[derive(Default)]
pub struct Feedback {
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl Feedback {
    pub fn keyframes() -> Self {
        Self::default()
    }

    fn wanted(&self, packet: &dyn rtc::rtcp::Packet) -> bool {
        crate::keyframes::is_keyframe_request(packet)
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for Feedback {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let requests: Vec<Box<dyn rtc::rtcp::Packet>> = packets
                .iter()
                .filter(|p| self.wanted(p.as_ref()))
                .cloned()
                .collect();
            if requests.is_empty() {
                return Ok(());
            }
            msg.message.packet = Packet::Rtcp(requests);
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write.pop_front()
    }
}

impl Interceptor for Feedback {
    fn bind_local_stream(&mut self, _: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _: &StreamInfo) {}
}
