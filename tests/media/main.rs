//! Media through a running server, with in-process WebRTC peers (the
//! webrtc crate as the client) on loopback: forwarding between three,
//! removal and mute enforced in the forwarder, screen sharing refused under
//! `share: moderators`, peer-to-peer for two and the handover to the server
//! when a third joins, and recording files.

#[path = "../common/mod.rs"]
mod common;

mod feedback;
mod forwarding;
mod handover;
mod lossy;
mod phone;
mod recording;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{line_with_security, Backend, TestServer, Ws};
use conclave_media::rtc;
use conclave_media::webrtc;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::{NackPair, TransportLayerNack};
use rtc::rtp::extension::audio_level_extension::AudioLevelExtension;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::media_stream::Track;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceCandidateInit, RTCPeerConnectionIceEvent,
    RTCSessionDescription,
};

use conclave_media::peer::{rtp_track, OPUS_PT, VP8_PT};

/// What a client received, per (publisher participant id, source).
type Counts = Arc<Mutex<HashMap<(String, String), Got>>>;

/// Packets received on one track, and their sequence numbers.
#[derive(Default)]
struct Got {
    packets: u64,
    seqs: std::collections::BTreeSet<u16>,
    /// Video: each packet's RTP timestamp and sequence number, in order.
    stamped: Vec<(u32, u16)>,
    /// Audio payloads, newest last (the latest 500).
    audio: std::collections::VecDeque<bytes::Bytes>,
}

/// The tracks a client receives: (publisher, source, track).
type Remotes = Arc<Mutex<Vec<(String, String, Arc<dyn TrackRemote>)>>>;

/// The tracks a client sends on, with their source and the connection
/// they belong to (a track is bound to one connection).
type Outputs = Arc<Mutex<Vec<(Arc<TrackLocalStaticRTP>, &'static str, &'static str)>>>;

fn count(counts: &Counts, publisher: &str, source: &str) -> u64 {
    counts
        .lock()
        .unwrap()
        .get(&(publisher.to_owned(), source.to_owned()))
        .map_or(0, |g| g.packets)
}

/// What a client's WebSocket task hands the peer connections.
enum Pc {
    Publish,
    Subscribe,
    Peer,
}

impl Pc {
    fn name(&self) -> &'static str {
        match self {
            Pc::Publish => "publish",
            Pc::Subscribe => "subscribe",
            Pc::Peer => "peer",
        }
    }
}

struct Candidates {
    pc: &'static str,
    out: mpsc::UnboundedSender<Value>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Candidates {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.out.send(json!({
                "type": "media_candidate", "pc": self.pc, "candidate": serde_json::to_value(init).unwrap(),
            }));
        }
    }
}

/// A receiving connection's handler: counts packets per publisher and source.
struct Receiver {
    candidates: Candidates,
    counts: Counts,
    remotes: Remotes,
    /// For the peer connection: whose packets these are.
    peer: Option<String>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Receiver {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        self.candidates.on_ice_candidate(event).await;
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let publisher = match &self.peer {
            Some(p) => p.clone(),
            None => track.stream_id().await,
        };
        let label = track.track_id().await;
        // "microphone-3" from the server; "mic"/"cam" from a peer.
        let source = match label.split('-').next().unwrap_or_default() {
            "mic" => "microphone".to_owned(),
            "cam" => "camera".to_owned(),
            s => s.to_owned(),
        };
        self.remotes
            .lock()
            .unwrap()
            .push((publisher.clone(), source.clone(), track.clone()));
        let counts = self.counts.clone();
        tokio::spawn(async move {
            while let Some(event) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(packet) = event {
                    let mut counts = counts.lock().unwrap();
                    let got = counts
                        .entry((publisher.clone(), source.clone()))
                        .or_default();
                    got.packets += 1;
                    got.seqs.insert(packet.header.sequence_number);
                    if source != "microphone" {
                        got.stamped
                            .push((packet.header.timestamp, packet.header.sequence_number));
                    }
                    if source == "microphone" {
                        if got.audio.len() == 500 {
                            got.audio.pop_front();
                        }
                        got.audio.push_back(packet.payload.clone());
                    }
                }
            }
        });
    }
}

async fn new_pc(handler: Arc<dyn PeerConnectionEventHandler>) -> Arc<dyn PeerConnection> {
    common::loopback_peer(handler, 0).await
}

fn local_track(kind: RtpCodecKind, id: &str, ssrc: u32) -> Arc<TrackLocalStaticRTP> {
    rtp_track("local".to_owned(), id.to_owned(), kind, ssrc)
}

/// A meeting client: its WebSocket runs in a task that answers the
/// server's (and the peer's) media signalling itself; requests and the
/// room's other messages go through channels.
struct Client {
    id: String,
    conference: String,
    /// What `joined` said to gather with.
    ice_servers: Value,
    requests: mpsc::UnboundedSender<(Value, oneshot::Sender<Value>)>,
    events: mpsc::UnboundedReceiver<Value>,
    /// Received packets, per publisher and source.
    counts: Counts,
    remotes: Remotes,
    /// Keyframe requests that reached this client's sent tracks.
    plis: Arc<std::sync::atomic::AtomicU64>,
    /// When its video frames are keyframes.
    keyframes: Arc<Keyframes>,
    outputs: Outputs,
    /// Audio packets and video frames sent, per source.
    sent: Arc<Mutex<HashMap<&'static str, u64>>>,
    /// How loud this client's audio is (RFC 6464 level: 0 loud, 127 silent).
    level: u8,
    /// Sends a real Opus tone of this frequency rather than filler bytes.
    tone: Option<f64>,
}

/// The shared state of a client's signalling task.
struct Signalling {
    ws: Ws,
    out: mpsc::UnboundedSender<Value>,
    out_rx: mpsc::UnboundedReceiver<Value>,
    subscribe: Option<Arc<dyn PeerConnection>>,
    publish: Option<Arc<dyn PeerConnection>>,
    peer: Option<Arc<dyn PeerConnection>>,
    counts: Counts,
    remotes: Remotes,
    /// Keyframe requests that reached this client's sent tracks.
    plis: Arc<std::sync::atomic::AtomicU64>,
    keyframes: Arc<Keyframes>,
    /// What to send: (track id, source).
    specs: Vec<(&'static str, &'static str)>,
    outputs: Outputs,
    /// Whether to open the server connections when told the mode is `sfu`.
    auto: bool,
    mode: String,
    me: String,
}

impl Signalling {
    /// Fresh tracks for connection `tag`; answers the declared sources.
    async fn add_tracks(
        &self,
        pc: &Arc<dyn PeerConnection>,
        tag: &'static str,
    ) -> serde_json::Map<String, Value> {
        let mut declared = serde_json::Map::new();
        for (id, source) in &self.specs {
            let kind = if *source == "microphone" {
                RtpCodecKind::Audio
            } else {
                RtpCodecKind::Video
            };
            let track = local_track(kind, id, rand::random::<u32>().max(1));
            pc.add_track(track.clone() as Arc<dyn TrackLocal>)
                .await
                .unwrap();
            self.outputs
                .lock()
                .unwrap()
                .push((track.clone(), source, tag));
            let plis = self.plis.clone();
            let keyframes = self.keyframes.clone();
            tokio::spawn(async move {
                use webrtc::media_stream::track_local::TrackLocalEvent;
                while let Some(TrackLocalEvent::OnRtcpPacket(packets)) = track.poll().await {
                    let n = packets
                        .iter()
                        .filter(|p| conclave_media::keyframes::is_keyframe_request(p.as_ref()))
                        .count();
                    plis.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                    keyframes.requested(n as u64);
                }
            });
            declared.insert((*id).to_owned(), json!(source));
        }
        declared
    }

    async fn drop_pc(&mut self, tag: &'static str) {
        self.outputs.lock().unwrap().retain(|o| o.2 != tag);
        let pcs = match tag {
            "peer" => vec![self.peer.take()],
            _ => vec![self.publish.take(), self.subscribe.take()],
        };
        for pc in pcs.into_iter().flatten() {
            let _ = pc.close().await;
        }
    }

    async fn publish_to_server(&mut self) {
        let pc = new_pc(Arc::new(Candidates {
            pc: "publish",
            out: self.out.clone(),
        }))
        .await;
        let declared = self.add_tracks(&pc, "server").await;
        let offer = pc.create_offer(None).await.unwrap();
        let sdp = offer.sdp.clone();
        pc.set_local_description(offer).await.unwrap();
        self.publish = Some(pc);
        let _ = self.out.send(json!({
            "type": "media_offer", "pc": "publish", "sdp": sdp, "tracks": declared,
        }));
    }

    async fn call_peer(&mut self, peer: String, offerer: bool) {
        let pc = new_pc(Arc::new(Receiver {
            candidates: Candidates {
                pc: "peer",
                out: self.out.clone(),
            },
            counts: self.counts.clone(),
            remotes: self.remotes.clone(),
            peer: Some(peer),
        }))
        .await;
        self.add_tracks(&pc, "peer").await;
        self.peer = Some(pc.clone());
        if offerer {
            let offer = pc.create_offer(None).await.unwrap();
            let sdp = offer.sdp.clone();
            pc.set_local_description(offer).await.unwrap();
            let _ = self
                .out
                .send(json!({"type": "media_offer", "pc": "peer", "sdp": sdp}));
        }
    }

    /// Handles a media message; false when it is not one.
    async fn media(&mut self, m: &Value) -> bool {
        let kind = m["type"].as_str().unwrap_or_default();
        let pc = match m["pc"].as_str() {
            Some("publish") => Pc::Publish,
            Some("subscribe") => Pc::Subscribe,
            Some("peer") => Pc::Peer,
            _ => Pc::Publish,
        };
        match kind {
            "media_mode" | "room" => {
                let media = if kind == "room" { &m["media"] } else { m };
                let mode = media["mode"].as_str().unwrap_or_default().to_owned();
                if mode == self.mode {
                    return false;
                }
                self.mode = mode.clone();
                if self.auto && mode == "sfu" && self.publish.is_none() {
                    self.publish_to_server().await;
                    // The handover: once the server carries the call, the
                    // direct connection goes.
                    self.drop_pc("peer").await;
                }
                if self.auto && mode == "p2p" && self.peer.is_none() {
                    // End to end: nothing goes through the server.
                    self.drop_pc("server").await;
                    let peer = media["peer"].as_str().unwrap().to_owned();
                    let offerer = media["offerer"].as_bool().unwrap();
                    self.call_peer(peer, offerer).await;
                }
                // The test sees mode changes too.
                false
            }
            "media_offer" => {
                let sdp = m["sdp"].as_str().unwrap().to_owned();
                let target = match pc {
                    Pc::Subscribe => {
                        if self.subscribe.is_none() {
                            self.subscribe = Some(
                                new_pc(Arc::new(Receiver {
                                    candidates: Candidates {
                                        pc: "subscribe",
                                        out: self.out.clone(),
                                    },
                                    counts: self.counts.clone(),
                                    remotes: self.remotes.clone(),
                                    peer: None,
                                }))
                                .await,
                            );
                        }
                        self.subscribe.clone().unwrap()
                    }
                    Pc::Peer => {
                        if self.peer.is_none() {
                            let from = m["from"].as_str().unwrap().to_owned();
                            self.call_peer(from, false).await;
                        }
                        self.peer.clone().unwrap()
                    }
                    Pc::Publish => panic!("the server never offers on publish"),
                };
                target
                    .set_remote_description(RTCSessionDescription::offer(sdp).unwrap())
                    .await
                    .unwrap();
                let answer = target.create_answer(None).await.unwrap();
                let sdp = answer.sdp.clone();
                target.set_local_description(answer).await.unwrap();
                let _ = self
                    .out
                    .send(json!({"type": "media_answer", "pc": pc.name(), "sdp": sdp}));
                true
            }
            "media_answer" => {
                let sdp = m["sdp"].as_str().unwrap().to_owned();
                let target = match pc {
                    Pc::Publish => self.publish.clone(),
                    Pc::Peer => self.peer.clone(),
                    Pc::Subscribe => None,
                };
                // None: the connection was dropped since (a mode change).
                if let Some(target) = target {
                    target
                        .set_remote_description(RTCSessionDescription::answer(sdp).unwrap())
                        .await
                        .unwrap();
                }
                true
            }
            "media_candidate" => {
                let target = match pc {
                    Pc::Publish => self.publish.clone(),
                    Pc::Subscribe => self.subscribe.clone(),
                    Pc::Peer => self.peer.clone(),
                };
                let init: RTCIceCandidateInit =
                    serde_json::from_value(m["candidate"].clone()).unwrap();
                if let Some(t) = target {
                    let _ = t.add_ice_candidate(init).await;
                }
                true
            }
            _ => false,
        }
    }
}

impl Client {
    /// Joins with `tracks` ("mic", "cam", "screen") to send; `auto` opens
    /// media as the mode says.
    async fn join(
        server: &TestServer,
        code: &str,
        pin: Option<&str>,
        security: &str,
        name: &str,
        tracks: &[&str],
        auto: bool,
    ) -> Self {
        let mut ws = Ws::connect(server).await;
        let joined = ws.join(code, Some(security), pin, name).await;
        assert_eq!(joined["type"], "joined", "{joined}");
        let me = joined["participant"].as_str().unwrap().to_owned();
        let counts: Counts = Default::default();
        let specs: Vec<(&'static str, &'static str)> = tracks
            .iter()
            .map(|t| match *t {
                "mic" => ("mic", "microphone"),
                "cam" => ("cam", "camera"),
                "screen" => ("screen", "screen"),
                other => panic!("{other}"),
            })
            .collect();
        let outputs: Outputs = Default::default();
        let remotes: Remotes = Default::default();
        let plis = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let keyframes = Arc::new(Keyframes::default());
        let (req_tx, mut req_rx) = mpsc::unbounded_channel::<(Value, oneshot::Sender<Value>)>();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (out, out_rx) = mpsc::unbounded_channel();
        let mut s = Signalling {
            ws,
            out,
            out_rx,
            subscribe: None,
            publish: None,
            peer: None,
            counts: counts.clone(),
            remotes: remotes.clone(),
            plis: plis.clone(),
            keyframes: keyframes.clone(),
            specs,
            outputs: outputs.clone(),
            auto,
            mode: String::new(),
            me: me.clone(),
        };
        actix_web::rt::spawn(async move {
            let mut pending: HashMap<String, oneshot::Sender<Value>> = HashMap::new();
            let mut n = 0u64;
            loop {
                tokio::select! {
                    m = s.ws.next() => {
                        let Ok(m) = m else {
                            let _ = ev_tx.send(json!({"type": "closed_socket"}));
                            break;
                        };
                        if let Some(tx) = m["id"].as_str().and_then(|id| pending.remove(id)) {
                            let _ = tx.send(m);
                            continue;
                        }
                        let handled = s.media(&m).await;
                        if !handled {
                            let _ = ev_tx.send(m);
                        }
                    }
                    Some(v) = s.out_rx.recv() => {
                        n += 1;
                        let mut v = v;
                        v["id"] = json!(format!("{}-s{n}", &s.me[..8]));
                        s.ws.send(v).await;
                    }
                    Some((mut v, tx)) = req_rx.recv() => {
                        if v["type"] == "_publish" {
                            s.publish_to_server().await;
                            let _ = tx.send(json!({}));
                            continue;
                        }
                        n += 1;
                        let id = format!("r{n}");
                        v["id"] = json!(id);
                        pending.insert(id, tx);
                        s.ws.send(v).await;
                    }
                }
            }
        });
        Self {
            id: me,
            conference: joined["conference"].as_str().unwrap().to_owned(),
            ice_servers: joined["ice_servers"].clone(),
            requests: req_tx,
            events: ev_rx,
            counts,
            remotes,
            plis,
            keyframes,
            outputs,
            sent: Default::default(),
            level: 127,
            tone: None,
        }
    }

    async fn ask(&self, request: Value) -> Value {
        let (tx, rx) = oneshot::channel();
        self.requests.send((request, tx)).unwrap();
        tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .expect("an answer within 10 s")
            .expect("the client task runs")
    }

    /// The next room message of `kind`.
    async fn until(&mut self, kind: &str) -> Value {
        self.until_any(&[kind]).await
    }

    /// The next room message of any of `kinds`.
    async fn until_any(&mut self, kinds: &[&str]) -> Value {
        let kind = kinds.join(" or ");
        loop {
            let m = tokio::time::timeout(Duration::from_secs(10), self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("no {kind} within 10 s"))
                .expect("the client task runs");
            if kinds.iter().any(|k| m["type"] == *k) {
                return m;
            }
        }
    }

    fn received(&self, publisher: &Client, source: &str) -> u64 {
        count(&self.counts, &publisher.id, source)
    }

    /// The track this client receives `publisher`'s `source` on.
    fn remote(&self, publisher: &Client, source: &str) -> Arc<dyn TrackRemote> {
        let remotes = self.remotes.lock().unwrap();
        remotes
            .iter()
            .find(|(p, s, _)| *p == publisher.id && s == source)
            .map(|(_, _, t)| t.clone())
            .unwrap_or_else(|| panic!("no {source} received from {}", publisher.id))
    }

    /// Each video packet received of `publisher`'s `source`: its RTP
    /// timestamp and sequence number, in order.
    fn stamped(&self, publisher: &Client, source: &str) -> Vec<(u32, u16)> {
        let counts = self.counts.lock().unwrap();
        counts[&(publisher.id.clone(), source.to_owned())]
            .stamped
            .clone()
    }

    /// The highest sequence number received of `publisher`'s `source`.
    fn last_seq(&self, publisher: &Client, source: &str) -> u16 {
        let counts = self.counts.lock().unwrap();
        *counts[&(publisher.id.clone(), source.to_owned())]
            .seqs
            .last()
            .unwrap()
    }
}

/// Reports the last `pairs` × 17 packets up to `last` lost on `track`, in
/// one NACK that lists them `times` over.
async fn nack_recent(track: &Arc<dyn TrackRemote>, last: u16, pairs: u16, times: usize) {
    let nacks = (0..pairs)
        .map(|k| NackPair {
            packet_id: last.wrapping_sub(pairs * 17 - 1).wrapping_add(k * 17),
            lost_packets: 0xffff,
        })
        .collect::<Vec<_>>()
        .repeat(times);
    track
        .write_rtcp(vec![Box::new(TransportLayerNack {
            sender_ssrc: 1,
            media_ssrc: track.ssrcs().await[0],
            nacks,
        })])
        .await
        .unwrap();
}

/// Sends every client's tracks in real time (audio 50 packets/s, video 30
/// frames/s) until `stop` fires; answers packets sent per client.
fn stream(clients: &[&Client], stop: oneshot::Receiver<()>) -> tokio::task::JoinHandle<()> {
    let senders: Vec<_> = clients
        .iter()
        .map(|c| {
            let tone = c
                .tone
                .map(|hz| (hz, conclave_media::phone::codec::Encoder::new().unwrap()));
            (
                c.outputs.clone(),
                c.level,
                c.sent.clone(),
                tone,
                c.keyframes.clone(),
            )
        })
        .collect();
    tokio::task::spawn_local(async move {
        let mut senders = senders;
        let mut stop = stop;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut n: u32 = 0;
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => {}
            }
            n += 1;
            for (outputs, level, sent, tone, keyframes) in &mut senders {
                let tracks: Vec<_> = outputs.lock().unwrap().clone();
                for (track, source, _) in &tracks {
                    let audio = *source == "microphone";
                    // Video at 30 fps on a 50 Hz tick: send 3 of every 5.
                    if !audio && n % 5 >= 3 {
                        continue;
                    }
                    *sent.lock().unwrap().entry(source).or_default() += 1;
                    let seq = n as u16;
                    let mut header = rtc::rtp::header::Header {
                        version: 2,
                        marker: !audio,
                        payload_type: if audio { OPUS_PT } else { VP8_PT },
                        sequence_number: seq,
                        timestamp: if audio { n * 960 } else { n * 1800 },
                        ssrc: track.codings().await[0].rtp_coding_parameters.ssrc.unwrap(),
                        ..Default::default()
                    };
                    header.extension = false;
                    // A VP8 payload descriptor (start of partition) and a
                    // keyframe header, or an Opus frame.
                    let payload: Vec<u8> =
                        if let (true, Some((hz, encoder))) = (audio, tone.as_mut()) {
                            let frame = tone_frame(*hz, n);
                            let mut out = Vec::new();
                            encoder.encode(&frame, &mut out).unwrap();
                            out
                        } else if audio {
                            vec![0xfc; 80]
                        } else if keyframes.next_is_key() {
                            let mut p = vec![
                                0x10, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01,
                            ];
                            p.resize(600, 0x55);
                            p
                        } else {
                            // An interframe: the frame tag's lowest bit.
                            let mut p = vec![0x10, 0x01, 0x00, 0x00];
                            p.resize(600, 0x55);
                            p
                        };
                    let packet = rtc::rtp::Packet {
                        header,
                        payload: payload.into(),
                    };
                    if audio {
                        let _ = track
                            .write_rtp_with_extensions(
                                packet,
                                &[rtc::rtp::extension::HeaderExtension::AudioLevel(
                                    AudioLevelExtension {
                                        level: *level,
                                        voice: *level < 60,
                                    },
                                )],
                            )
                            .await;
                    } else {
                        let _ = track.write_rtp(packet).await;
                    }
                }
            }
        }
    })
}

/// When a client's video frames are keyframes: every one (the default),
/// or, once [`Keyframes::on_request`], only the frame after a keyframe
/// request, with the next few requests let pass unanswered (as a lost
/// request would be).
#[derive(Default)]
struct Keyframes {
    on_request: std::sync::atomic::AtomicBool,
    ignore: std::sync::atomic::AtomicU64,
    owed: std::sync::atomic::AtomicU64,
}

impl Keyframes {
    fn on_request(&self, ignore: u64) {
        use std::sync::atomic::Ordering::SeqCst;
        self.ignore.store(ignore, SeqCst);
        self.on_request.store(true, SeqCst);
    }

    fn requested(&self, n: u64) {
        use std::sync::atomic::Ordering::SeqCst;
        for _ in 0..n {
            let ignored = self
                .ignore
                .fetch_update(SeqCst, SeqCst, |i| i.checked_sub(1))
                .is_ok();
            if !ignored {
                self.owed.fetch_add(1, SeqCst);
            }
        }
    }

    fn next_is_key(&self) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        !self.on_request.load(SeqCst) || self.owed.swap(0, SeqCst) > 0
    }
}

/// The `n`th 20 ms of a sine at `hz`, 8 kHz.
fn tone_frame(hz: f64, n: u32) -> Vec<i16> {
    (0..160u32)
        .map(|i| {
            let t = f64::from(n * 160 + i) / 8000.0;
            (8000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
        })
        .collect()
}

async fn settle(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Waits until `probe` holds, up to 15 s.
async fn wait_for(what: &str, mut probe: impl FnMut() -> bool) {
    for _ in 0..150 {
        if probe() {
            return;
        }
        settle(100).await;
    }
    panic!("{what} did not happen within 15 s");
}

async fn media_server() -> TestServer {
    media_server_with(true).await
}

async fn media_server_with(peer_to_peer: bool) -> TestServer {
    media_server_on(Backend::Sqlite, peer_to_peer).await
}

async fn media_server_on(backend: Backend, peer_to_peer: bool) -> TestServer {
    TestServer::start_with(
        backend,
        |c| {
            c.media.peer_to_peer = peer_to_peer;
            c.media.ice_servers = vec![conclave_media::IceServer {
                urls: vec!["turn:turn.example.org:3478?transport=tcp".into()],
                username: Some("conclave".into()),
                credential: Some("turn secret".into()),
            }];
            c.media.bind_ip = std::net::IpAddr::from([127, 0, 0, 1]);
            c.media.port_min = 41000;
            c.media.port_max = 47999;
            // The recording test's webhook endpoint is on loopback.
            c.webhooks.allow_http = true;
            c.webhooks.allow_private_addresses = true;
        },
        Arc::new(conclave::clock::SystemClock),
    )
    .await
}

impl Client {
    async fn publish(&self) {
        self.ask(json!({"type": "_publish"})).await;
    }

    async fn ok(&self, request: Value) {
        let answer = self.ask(request.clone()).await;
        assert_eq!(answer["type"], "ack", "{request} -> {answer}");
    }
}

/// What `counts` reaches over `ms`: (before, after).
async fn over<const N: usize>(ms: u64, probes: [&dyn Fn() -> u64; N]) -> [(u64, u64); N] {
    let before: Vec<u64> = probes.iter().map(|p| p()).collect();
    settle(ms).await;
    let mut out = [(0, 0); N];
    for (i, p) in probes.iter().enumerate() {
        out[i] = (before[i], p());
    }
    out
}

async fn get_bytes(server: &TestServer, path: &str, token: &str) -> (u16, Vec<u8>) {
    let mut res = awc::Client::new()
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let body = res.body().limit(64 << 20).await.unwrap();
    (res.status().as_u16(), body.to_vec())
}

async fn metric(server: &TestServer, outcome: &str) -> u64 {
    gauge(
        server,
        &format!("conclave_media_packets{{outcome=\"{outcome}\"}}"),
    )
    .await
}

/// What subscribers' clients said back, by `measure` (nacks, ...).
async fn quality(server: &TestServer, measure: &str) -> u64 {
    gauge(
        server,
        &format!("conclave_media_quality{{measure=\"{measure}\"}}"),
    )
    .await
}

/// The value of one series of /metrics, named with its labels.
async fn gauge(server: &TestServer, series: &str) -> u64 {
    let body = awc::Client::new()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .body()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&body).into_owned();
    let needle = format!("{series} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&needle))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// Three in a room, each sending audio and video through the server.
async fn three(server: &TestServer, tracks: [&[&str]; 3]) -> (Client, Client, Client) {
    three_owned(server, tracks).await.1
}

/// As [`three`], with the conference owner's API token.
async fn three_owned(
    server: &TestServer,
    tracks: [&[&str]; 3],
) -> (String, (Client, Client, Client)) {
    let (token, code, pin) = common::owned_line_with_security(server).await;
    let m = Client::join(server, &code, Some(&pin), "2468", "Mod", tracks[0], false).await;
    let b = Client::join(server, &code, None, "2468", "Bea", tracks[1], false).await;
    let c = Client::join(server, &code, None, "2468", "Cal", tracks[2], false).await;
    for x in [&m, &b, &c] {
        x.publish().await;
    }
    (token, (m, b, c))
}

/// A camera publisher and two who only receive, streaming (until `stop` is
/// sent) once video reaches both.
async fn camera_to_two(
    server: &TestServer,
) -> (
    Client,
    Client,
    Client,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (m, b, c) = three(server, [&["cam"], &[], &[]]).await;
    let (stop, stop_rx) = oneshot::channel();
    let sender = stream(&[&m, &b, &c], stop_rx);
    wait_for("video flows", || {
        b.received(&m, "camera") >= 30 && c.received(&m, "camera") >= 30
    })
    .await;
    (m, b, c, stop, sender)
}
