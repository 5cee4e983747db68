//! Building the server's end of a participant's peer connections: the
//! codecs the server forwards (Opus and VP8), the audio-level extension, the
//! default interceptors (NACK, reports, TWCC) plus one that hands keyframe
//! requests up to the forwarder, and a UDP port from the configured range.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use conclave_actors::media::PcKind;
use conclave_actors::ParticipantId;
use rtc::interceptor::{Attribute, Interceptor, Packet, Slot, StreamInfo, TaggedPacket};
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use rtc::sansio::Protocol;
use tokio::sync::mpsc::UnboundedSender;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceServer,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState, Registry, SettingEngineBuilder,
};

use crate::forwarder::Control;
use crate::plane::Shared;
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
    Ok(m)
}

/// The default chain (NACK, reports, TWCC feedback), with a NACK history of
/// 256 packets per sent stream instead of 1,024: 2.5 s of video at 100
/// packets/s, beyond which a retransmission arrives too late to play. Last,
/// the hand-off of keyframe requests to the forwarder.
fn interceptors(engine: &mut MediaEngine) -> webrtc::error::Result<Registry> {
    use rtc::interceptor::{NackGeneratorBuilder, NackResponderBuilder};
    use rtc::peer_connection::configuration::interceptor_registry::{
        configure_rtcp_reports, configure_twcc_receiver_only,
    };
    let registry = Registry::new()
        .with(
            Slot::NackResponder,
            NackResponderBuilder::new().with_size(256).build(),
        )
        .with(Slot::NackGenerator, NackGeneratorBuilder::new().build());
    let registry = configure_twcc_receiver_only(registry, engine)?;
    Ok(configure_rtcp_reports(registry).with(Slot::from(14_000), KeyframeRequests::default()))
}

/// Builds one server-side peer connection for `member`, on a port from the
/// configured range.
pub async fn build(
    shared: &Shared,
    member: ParticipantId,
    pc: PcKind,
    control: UnboundedSender<Control>,
    gates: Arc<crate::gates::Gates>,
) -> webrtc::error::Result<Arc<dyn PeerConnection>> {
    let config = &shared.config;
    let handler = Arc::new(PeerEvents {
        member,
        pc,
        control,
        gates,
        public_ip: config.public_ip,
    });
    let mut last_error = None;
    // Every port of the range is tried once at most, from where the last
    // connection left off.
    let span = u32::from(config.port_max.saturating_sub(config.port_min)) + 1;
    for _ in 0..span.min(64) {
        let port = shared.next_port();
        let mut engine = media_engine()?;
        let registry = interceptors(&mut engine)?;
        let mut settings = SettingEngineBuilder::new();
        if config.bind_ip.is_loopback() {
            settings = settings.with_include_loopback_candidate(true);
        }
        let built = PeerConnectionBuilder::new()
            .with_configuration(
                webrtc::peer_connection::RTCConfigurationBuilder::new()
                    .with_ice_servers(Vec::<RTCIceServer>::new())
                    .build(),
            )
            .with_media_engine(engine)
            .with_interceptor_registry(registry)
            .with_setting_engine(settings.build())
            .with_handler(handler.clone() as Arc<dyn PeerConnectionEventHandler>)
            .with_runtime(Arc::new(crate::runtime::NoGroRuntime::default()))
            .with_udp_addrs(vec![std::net::SocketAddr::new(config.bind_ip, port)])
            .build()
            .await;
        match built {
            Ok(pc) => return Ok(Arc::new(pc)),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| webrtc::error::Error::Other("no UDP port free".into())))
}

/// Turns a connection's callbacks into messages for the forwarder.
struct PeerEvents {
    member: ParticipantId,
    pc: PcKind,
    control: UnboundedSender<Control>,
    /// The member's gates when the connection was made: a connection's
    /// state speaks for it alone, not for one made after it.
    gates: Arc<crate::gates::Gates>,
    /// Behind a 1:1 NAT, announced instead of the socket's own address
    /// (webrtc 0.21.1 takes the setting but does not apply it).
    public_ip: Option<std::net::IpAddr>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for PeerEvents {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        let Ok(mut init) = event.candidate.to_json() else {
            return;
        };
        if let Some(public) = self.public_ip {
            init.candidate = crate::sdp::announce(&init.candidate, public);
        }
        let Ok(candidate) = serde_json::to_string(&init) else {
            return;
        };
        let _ = self.control.send(Control::LocalCandidate {
            member: self.member,
            pc: self.pc,
            candidate,
        });
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        tracing::debug!(member = %self.member, pc = self.pc.as_str(), %state, "peer connection state");
        let up = match state {
            RTCPeerConnectionState::Connected => true,
            RTCPeerConnectionState::Failed
            | RTCPeerConnectionState::Closed
            | RTCPeerConnectionState::Disconnected => false,
            _ => return,
        };
        if self.pc == PcKind::Subscribe {
            self.gates.set_receiving(up);
        }
        let _ = self.control.send(Control::Connected {
            member: self.member,
            pc: self.pc,
            up,
        });
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.control.send(Control::Track {
            member: self.member,
            track,
        });
    }
}

/// Marks inbound keyframe requests (PLI, FIR) for the application, which
/// relays them to the publisher; all other inbound RTCP stays with the
/// interceptors that act on it. Sits last in the chain.
#[derive(Default)]
pub struct KeyframeRequests {
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequests {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let requests: Vec<Box<dyn rtc::rtcp::Packet>> = packets
                .iter()
                .filter(|p| crate::keyframes::is_keyframe_request(p.as_ref()))
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

impl Interceptor for KeyframeRequests {
    fn bind_local_stream(&mut self, _: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _: &StreamInfo) {}
}
