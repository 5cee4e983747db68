//! The phone scenario's web participants (`load/phone.rs` has the
//! scenario): each is a WebSocket client with WebRTC connections that
//! publishes real 48 kHz Opus voice packets (silence, and a tone once a
//! cycle) and times the tones on the callers' tracks it receives.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use conclave_media::peer::rtp_track;
use conclave_media::rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use conclave_media::webrtc;
use serde_json::{json, Value};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCPeerConnectionIceEvent,
};

use super::phone::{since, Measure, Stream, CYCLE, LOUD_OPUS_BYTES, OPUS_TICKS, WEB_SLOT};
use super::{join, send, Server};

/// Sends candidates out; times the tones on callers' tracks.
#[derive(Clone)]
struct Handler {
    pc: &'static str,
    out: tokio::sync::mpsc::UnboundedSender<Value>,
    room: usize,
    /// The room's callers' places, by participant id (a track's stream id
    /// names its publisher).
    callers: Arc<Mutex<HashMap<String, usize>>>,
    measure: Arc<Measure>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        super::media::send_candidate(&self.out, self.pc, event);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let callers = self.callers.clone();
        let measure = self.measure.clone();
        let room = self.room;
        tokio::spawn(async move {
            let publisher = track.stream_id().await.to_string();
            let mut caller = None;
            let mut stream = Stream::new(OPUS_TICKS);
            let mut was_on = false;
            let mut done = false;
            while let Some(event) = track.poll().await {
                let TrackRemoteEvent::OnRtpPacket(packet) = event else {
                    continue;
                };
                if caller.is_none() {
                    caller = callers.lock().unwrap().get(&publisher).copied();
                }
                let on = measure.on.load(Ordering::Relaxed);
                let Some(place) = caller.filter(|_| !done && (on || was_on)) else {
                    continue;
                };
                if was_on && !on {
                    Measure::add(&measure.to_web, &stream);
                    done = true;
                    continue;
                }
                was_on = true;
                let loud = packet.payload.len() >= LOUD_OPUS_BYTES;
                if stream.frame(packet.header.timestamp, 32, loud) {
                    let sent = measure.caller_sent[room][place].load(Ordering::Relaxed);
                    if let Some(d) = since(measure.schedule, sent) {
                        Measure::record(&measure.caller_to_web, d);
                    }
                }
            }
        });
    }
}

async fn peer(handler: Handler) -> Arc<dyn PeerConnection> {
    super::client_peer::loopback_peer(Arc::new(handler), 2).await
}

/// A web participant: publishes its microphone (when it `speaks`),
/// receives the callers, and counts callers seated (into `seated`).
pub(super) async fn web(
    server: &Server,
    code: &str,
    room: usize,
    name: &str,
    measure: Arc<Measure>,
    seated: Option<Arc<AtomicU64>>,
    speaks: bool,
) -> Option<Arc<TrackLocalStaticRTP>> {
    let mut ws = server.connect().await;
    join(&mut ws, code, None, name).await;
    let callers: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let (out, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let handler = |pc| Handler {
        pc,
        room,
        out: out.clone(),
        callers: callers.clone(),
        measure: measure.clone(),
    };
    let mut publish = None;
    let mut track = None;
    if speaks {
        let pc = peer(handler("publish")).await;
        let t = rtp_track(
            "load".into(),
            "a".into(),
            RtpCodecKind::Audio,
            rand::random::<u32>().max(1),
        );
        pc.add_track(t.clone() as Arc<dyn TrackLocal>)
            .await
            .unwrap();
        let offer = pc.create_offer(None).await.unwrap();
        let sdp = offer.sdp.clone();
        pc.set_local_description(offer).await.unwrap();
        send(
            &mut ws,
            json!({"type": "media_offer", "id": "p", "pc": "publish", "sdp": sdp, "tracks": {"a": "microphone"}}),
        )
        .await;
        publish = Some(pc);
        track = Some(t);
    }
    let subscriber = handler("subscribe");
    let out = subscriber.out.clone();
    actix_web::rt::spawn(async move {
        // `+1•••••••012`: the caller in place 12.
        let joined = |m: &Value| {
            if m["type"] != "participant_joined" || m["participant"]["phone"] != true {
                return;
            }
            let number = m["participant"]["number"].as_str().unwrap_or_default();
            let place = number
                .get(number.len().saturating_sub(3)..)
                .and_then(|d| d.parse().ok());
            if let (Some(id), Some(place)) = (m["participant"]["id"].as_str(), place) {
                callers.lock().unwrap().insert(id.to_owned(), place);
                if let Some(s) = &seated {
                    s.fetch_add(1, Ordering::Relaxed);
                }
            }
        };
        super::media::signalling(
            ws,
            publish,
            out,
            &mut out_rx,
            || peer(subscriber.clone()),
            joined,
            || {},
        )
        .await;
    });
    track
}

/// A browser's microphone for one cycle: 48 kHz Opus packets of silence,
/// the first a 20 ms 1 kHz tone (encoded after a cycle of warm-up, as a
/// running encoder would have them).
pub(super) fn web_cycle() -> Vec<Vec<u8>> {
    let mut enc =
        opus_rs::OpusEncoder::new(48_000, 1, opus_rs::Application::Voip).expect("an Opus encoder");
    enc.bitrate_bps = 32_000;
    let mut buf = vec![0u8; 1275];
    let mut packets = Vec::new();
    for frame in 0..2 * CYCLE {
        let pcm: Vec<i16> = (0..OPUS_TICKS as usize)
            .map(|i| {
                if frame % CYCLE == WEB_SLOT {
                    let t = i as f32 / 48_000.0;
                    (8_000.0 * (std::f32::consts::TAU * 1_000.0 * t).sin()) as i16
                } else {
                    0
                }
            })
            .collect();
        let n = enc
            .encode_i16(&pcm, pcm.len(), &mut buf)
            .expect("a frame encodes");
        packets.push(buf[..n].to_vec());
    }
    packets.split_off(CYCLE as usize)
}
