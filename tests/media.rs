//! Media through a running server, with in-process WebRTC peers (the
//! webrtc crate as the client) on loopback: forwarding between three,
//! removal and mute enforced in the forwarder, screen sharing refused under
//! `share: moderators`, peer-to-peer for two and the handover to the server
//! when a third joins, and recording files.

mod common;

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
    outputs: Outputs,
    /// Audio packets and video frames sent, per source.
    sent: Arc<Mutex<HashMap<&'static str, u64>>>,
    /// How loud this client's audio is (RFC 6464 level: 0 loud, 127 silent).
    level: u8,
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
            tokio::spawn(async move {
                use webrtc::media_stream::track_local::TrackLocalEvent;
                while let Some(TrackLocalEvent::OnRtcpPacket(packets)) = track.poll().await {
                    let n = packets
                        .iter()
                        .filter(|p| conclave_media::keyframes::is_keyframe_request(p.as_ref()))
                        .count();
                    plis.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
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
            outputs,
            sent: Default::default(),
            level: 127,
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
        loop {
            let m = tokio::time::timeout(Duration::from_secs(10), self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("no {kind} within 10 s"))
                .expect("the client task runs");
            if m["type"] == kind {
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
/// one NACK.
async fn nack_recent(track: &Arc<dyn TrackRemote>, last: u16, pairs: u16) {
    let nacks = (0..pairs)
        .map(|k| NackPair {
            packet_id: last.wrapping_sub(pairs * 17 - 1).wrapping_add(k * 17),
            lost_packets: 0xffff,
        })
        .collect();
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
        .map(|c| (c.outputs.clone(), c.level, c.sent.clone()))
        .collect();
    tokio::task::spawn_local(async move {
        let mut stop = stop;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut n: u32 = 0;
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => {}
            }
            n += 1;
            for (outputs, level, sent) in &senders {
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
                    let payload: Vec<u8> = if audio {
                        vec![0xfc; 80]
                    } else {
                        let mut p = vec![
                            0x10, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01,
                        ];
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
    TestServer::start_with(
        Backend::Sqlite,
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
    let body = awc::Client::new()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .body()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&body).into_owned();
    let needle = format!("conclave_media_packets{{outcome=\"{outcome}\"}} ");
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

#[actix_web::test]
async fn three_peers_exchange_audio_and_video_through_the_server() {
    let server = media_server().await;
    let (mut m, mut b, c) = three(&server, [&["mic", "cam"]; 3]).await;
    m.level = 15;
    b.level = 100;
    // The operator's TURN server reaches every client.
    assert_eq!(
        c.ice_servers,
        json!([{"urls": ["turn:turn.example.org:3478?transport=tcp"], "username": "conclave", "credential": "turn secret"}])
    );
    let (stop, stop_rx) = oneshot::channel();
    let sender = stream(&[&m, &b, &c], stop_rx);
    for (rx, tx) in [(&m, &b), (&m, &c), (&b, &m), (&b, &c), (&c, &m), (&c, &b)] {
        for source in ["microphone", "camera"] {
            wait_for(&format!("{source} of {} at {}", tx.id, rx.id), || {
                rx.received(tx, source) >= 25
            })
            .await;
        }
    }
    // Loudest is the moderator: everyone is told.
    loop {
        let s = b.until("active_speaker").await;
        if s["participant"] == m.id.as_str() {
            break;
        }
    }
    assert!(metric(&server, "forwarded").await >= 300);
    assert_eq!(metric(&server, "duplicate").await, 0);
    let _ = stop.send(());
    let _ = sender.await;
}

#[actix_web::test]
async fn removal_and_mute_stop_the_flow_once_acknowledged() {
    // Two left after the removal would move to end to end: this room
    // stays on the server.
    let server = media_server_with(false).await;
    let (m, b, c) = three(&server, [&["mic", "cam"]; 3]).await;
    let (stop, stop_rx) = oneshot::channel();
    let sender = stream(&[&m, &b, &c], stop_rx);
    for (rx, tx) in [(&b, &c), (&b, &m), (&m, &b)] {
        wait_for("media flows", || {
            rx.received(tx, "microphone") >= 25 && rx.received(tx, "camera") >= 15
        })
        .await;
    }

    // Mute: Bea's audio stops reaching the moderator, her video does not.
    m.ok(json!({"type": "mute", "participant": b.id, "muted": true}))
        .await;
    let [mic, cam] = over(
        1000,
        [&|| m.received(&b, "microphone"), &|| {
            m.received(&b, "camera")
        }],
    )
    .await;
    assert!(mic.1 - mic.0 <= 2, "muted audio still forwarded: {mic:?}");
    assert!(cam.1 - cam.0 >= 15, "video stopped too: {cam:?}");
    m.ok(json!({"type": "mute", "participant": b.id, "muted": false}))
        .await;
    let [mic] = over(1000, [&|| m.received(&b, "microphone")]).await;
    assert!(mic.1 - mic.0 >= 25, "unmuted audio flows again: {mic:?}");

    // Removal: nothing of Cal's reaches Bea once the moderator has the ack;
    // the moderator's own media keeps flowing to her.
    m.ok(json!({"type": "remove", "participant": c.id})).await;
    let [cal_mic, cal_cam, mod_mic] = over(
        1000,
        [
            &|| b.received(&c, "microphone"),
            &|| b.received(&c, "camera"),
            &|| b.received(&m, "microphone"),
        ],
    )
    .await;
    assert!(
        cal_mic.1 - cal_mic.0 <= 2 && cal_cam.1 - cal_cam.0 <= 2,
        "a removed participant's media still forwarded: {cal_mic:?} {cal_cam:?}"
    );
    assert!(mod_mic.1 - mod_mic.0 >= 25, "{mod_mic:?}");
    assert!(metric(&server, "gated").await > 0);
    let _ = stop.send(());
    let _ = sender.await;
}

#[actix_web::test]
async fn a_screen_is_refused_and_stopped_under_share_moderators() {
    let server = media_server().await;
    let (m, p, s) = three(&server, [&["mic"], &["mic", "screen"], &["mic"]]).await;
    let (stop, stop_rx) = oneshot::channel();
    let sender = stream(&[&m, &p, &s], stop_rx);
    wait_for("the screen is forwarded while everyone may share", || {
        s.received(&p, "screen") >= 15
    })
    .await;

    m.ok(json!({"type": "set_permission", "permission": "share", "audience": "moderators"}))
        .await;
    let [screen, mic] = over(
        1000,
        [&|| s.received(&p, "screen"), &|| {
            s.received(&p, "microphone")
        }],
    )
    .await;
    assert!(
        screen.1 - screen.0 <= 2,
        "screen still forwarded: {screen:?}"
    );
    assert!(mic.1 - mic.0 >= 25, "{mic:?}");
    // Nor is what was forwarded before sent again on a NACK.
    let resent = metric(&server, "resent").await;
    nack_recent(&s.remote(&p, "screen"), s.last_seq(&p, "screen"), 4).await;
    settle(500).await;
    assert_eq!(
        metric(&server, "resent").await,
        resent,
        "a refused screen is not sent again"
    );

    // A new offer with a screen is refused outright, before any SDP is read.
    let refused = p
        .ask(json!({"type": "media_offer", "pc": "publish", "sdp": "v=0", "tracks": {"screen": "screen"}}))
        .await;
    assert_eq!(refused["code"], "not_permitted", "{refused}");
    // The moderator may still present.
    let fine = m
        .ask(json!({"type": "media_offer", "pc": "publish", "sdp": "not sdp", "tracks": {"x": "screen"}}))
        .await;
    assert_eq!(fine["type"], "ack", "{fine}");
    let _ = stop.send(());
    let _ = sender.await;
}

#[actix_web::test]
async fn two_talk_end_to_end_and_move_to_the_server_when_a_third_joins() {
    let server = media_server().await;
    let (code, pin) = line_with_security(&server).await;
    let mut a = Client::join(
        &server,
        &code,
        Some(&pin),
        "2468",
        "Ann",
        &["mic", "cam"],
        true,
    )
    .await;
    let mut b = Client::join(&server, &code, None, "2468", "Ben", &["mic", "cam"], true).await;
    let room = b.until("room").await;
    assert_eq!(room["media"]["mode"], "p2p", "{room}");
    assert_eq!(room["media"]["peer"], a.id.as_str());
    let mode = a.until("media_mode").await;
    assert_eq!(
        (mode["mode"].as_str(), mode["offerer"].as_bool()),
        (Some("p2p"), Some(true))
    );

    let (stop, stop_rx) = oneshot::channel();
    let sender = stream(&[&a, &b], stop_rx);
    wait_for("media end to end", || {
        b.received(&a, "microphone") >= 25 && a.received(&b, "camera") >= 15
    })
    .await;
    assert_eq!(
        metric(&server, "received").await,
        0,
        "end to end: the server carries no media"
    );

    // A third joins: both move to the server without ending the call.
    let mut c = Client::join(&server, &code, None, "2468", "Cy", &["mic", "cam"], true).await;
    let room = c.until("room").await;
    assert_eq!(room["media"]["mode"], "sfu");
    for x in [&mut a, &mut b] {
        let m = x.until("media_mode").await;
        assert_eq!(m["mode"], "sfu", "{m}");
    }
    let sender2 = {
        let (stop2, rx2) = oneshot::channel::<()>();
        let h = stream(&[&c], rx2);
        (stop2, h)
    };
    for (rx, tx) in [(&c, &a), (&c, &b), (&a, &c), (&b, &a)] {
        let before = rx.received(tx, "microphone");
        wait_for("media through the server", || {
            rx.received(tx, "microphone") >= before + 25
        })
        .await;
    }
    assert!(metric(&server, "forwarded").await > 0);
    let _ = stop.send(());
    let _ = sender.await;
    let _ = sender2.0.send(());
    let _ = sender2.1.await;
}

/// The last granule position of an Ogg stream: its length in samples.
fn ogg_samples(bytes: &[u8]) -> u64 {
    let mut at = 0;
    let mut granule = 0;
    while at + 27 <= bytes.len() && &bytes[at..at + 4] == b"OggS" {
        granule = u64::from_le_bytes(bytes[at + 6..at + 14].try_into().unwrap());
        let segments = bytes[at + 26] as usize;
        let body: usize = bytes[at + 27..at + 27 + segments]
            .iter()
            .map(|&b| b as usize)
            .sum();
        at += 27 + segments + body;
    }
    granule
}

/// The frames of an IVF file.
fn ivf_frames(bytes: &[u8]) -> u64 {
    let mut at = 32;
    let mut frames = 0;
    while at + 12 <= bytes.len() {
        let size = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += 12 + size;
        frames += 1;
    }
    frames
}

#[actix_web::test]
async fn a_moderator_records_everyone_is_told_and_the_files_are_valid() {
    let server = media_server().await;
    let (owner, (m, mut b, c)) = three_owned(&server, [&["mic", "cam"], &["mic"], &["cam"]]).await;
    let (stop, stop_rx) = oneshot::channel();
    let sender = stream(&[&m, &b, &c], stop_rx);
    wait_for("media flows", || {
        m.received(&b, "microphone") >= 10 && m.received(&c, "camera") >= 10
    })
    .await;

    let refused = b.ask(json!({"type": "start_recording"})).await;
    assert_eq!(refused["code"], "forbidden", "{refused}");
    let sent = |c: &Client| c.sent.lock().unwrap().clone();
    let before = [sent(&m), sent(&b), sent(&c)];
    m.ok(json!({"type": "start_recording"})).await;
    let told = b.until("recording").await;
    assert_eq!(told["on"], true, "{told}");
    settle(3000).await;
    m.ok(json!({"type": "stop_recording"})).await;
    let after = [sent(&m), sent(&b), sent(&c)];
    // What was sent while recording, in seconds of media, per participant
    // and source: 20 ms per audio packet, 30 video frames a second.
    let sent_seconds = |who: &str, source: &str| {
        let i = [&m.id, &b.id, &c.id]
            .iter()
            .position(|id| id.as_str() == who)
            .unwrap();
        let key: &str = if source == "microphone" {
            "microphone"
        } else {
            "camera"
        };
        let n = after[i].get(key).copied().unwrap_or(0) - before[i].get(key).copied().unwrap_or(0);
        if source == "microphone" {
            n as f64 * 0.02
        } else {
            n as f64 / 30.0
        }
    };
    let _ = stop.send(());
    let _ = sender.await;

    let folder = server.data_dir().join("recordings").join(&m.conference);
    let manifest = {
        let folder = folder.clone();
        common::eventually(10, "the recording manifest", move || {
            let folder = folder.clone();
            async move {
                let session = std::fs::read_dir(&folder).ok()?.next()?.ok()?.path();
                let text = std::fs::read_to_string(session.join("manifest.json")).ok()?;
                Some((session, serde_json::from_str::<Value>(&text).unwrap()))
            }
        })
        .await
    };
    let (session, manifest) = manifest;
    let tracks = manifest["tracks"].as_array().unwrap();
    assert_eq!(tracks.len(), 4, "mic+cam, mic, cam: {manifest}");
    for t in tracks {
        let bytes = std::fs::read(session.join(t["file"].as_str().unwrap())).unwrap();
        let recorded = if t["codec"] == "opus" {
            assert_eq!(&bytes[..4], b"OggS", "{t}");
            ogg_samples(&bytes) as f64 / 48_000.0
        } else {
            assert_eq!(&bytes[..4], b"DKIF", "{t}");
            assert_eq!(&bytes[8..12], b"VP80", "{t}");
            ivf_frames(&bytes) as f64 / 30.0
        };
        assert!(bytes.len() > 1000, "{t}");
        let seconds = sent_seconds(
            t["participant"].as_str().unwrap(),
            t["source"].as_str().unwrap(),
        );
        assert!(seconds > 2.0, "{t}: {seconds}");
        assert!(
            (recorded - seconds).abs() <= seconds * 0.1,
            "{t}: {recorded:.2} s recorded of {seconds:.2} s sent"
        );
        let manifest_s = t["duration_ms"].as_u64().unwrap() as f64 / 1000.0;
        assert!((manifest_s - seconds).abs() <= seconds * 0.1, "{t}");
    }

    // The owner lists, downloads and deletes them over the API.
    let base = format!("/api/v1/conferences/{}/recordings", m.conference);
    let (status, list) = server.call("GET", &base, None, Some(&owner)).await;
    assert_eq!(status, 200, "{list}");
    let rec = &list[0];
    let id = rec["id"].as_str().unwrap();
    assert_eq!(rec["files"].as_array().unwrap().len(), 4, "{list}");
    let first = rec["files"][0]["file"].as_str().unwrap().to_owned();
    let (status, bytes) = get_bytes(&server, &format!("{base}/{id}/{first}"), &owner).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, std::fs::read(session.join(&first)).unwrap());
    let (stranger, _) = server.sign_up().await;
    let (status, _) = server.call("GET", &base, None, Some(&stranger)).await;
    assert_eq!(status, 404, "someone else's conference");
    for hostile in [
        "..%2F..%2Fhmac.key",
        "manifest.json",
        "..",
        "%2Fetc%2Fpasswd",
    ] {
        let (status, _) = get_bytes(&server, &format!("{base}/{id}/{hostile}"), &owner).await;
        assert_eq!(status, 404, "{hostile}");
    }
    let (status, _) = server
        .call(
            "DELETE",
            &format!("{base}/{id}/{first}"),
            None,
            Some(&owner),
        )
        .await;
    assert_eq!(status, 204);
    assert!(!session.join(&first).exists(), "the bytes are gone");
    let (_, list) = server.call("GET", &base, None, Some(&owner)).await;
    assert_eq!(list[0]["files"].as_array().unwrap().len(), 3);
    let (status, _) = server
        .call("DELETE", &format!("{base}/{id}"), None, Some(&owner))
        .await;
    assert_eq!(status, 204);
    assert!(!session.exists(), "the recording's folder is gone");
    let (_, list) = server.call("GET", &base, None, Some(&owner)).await;
    assert_eq!(list, json!([]));

    // A second recording goes with the conference's summary, once the
    // meeting is over.
    m.ok(json!({"type": "start_recording"})).await;
    settle(300).await;
    m.ok(json!({"type": "stop_recording"})).await;
    let second = common::eventually(10, "the second recording", || async {
        let (_, list) = server.call("GET", &base, None, Some(&owner)).await;
        let id = list[0]["id"].as_str()?.to_owned();
        Some(folder.join(id))
    })
    .await;
    let history = format!("/api/v1/conferences/{}/history", m.conference);
    let (status, live) = server.call("DELETE", &history, None, Some(&owner)).await;
    assert_eq!((status, &live["code"]), (409, &json!("conference_live")));
    assert!(second.exists());
    for who in [&m, &b, &c] {
        who.ok(json!({"type": "leave"})).await;
    }
    let deleted = common::eventually(10, "the meeting ends", || async {
        let (status, body) = server.call("DELETE", &history, None, Some(&owner)).await;
        (status == 200).then_some(body)
    })
    .await;
    assert_eq!(deleted["recordings"], 1, "{deleted}");
    assert!(
        !second.exists(),
        "the recording's bytes went with the summary"
    );
    let (_, list) = server.call("GET", &base, None, Some(&owner)).await;
    assert_eq!(list, json!([]));
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

#[actix_web::test]
async fn a_subscribers_keyframe_requests_reach_the_publisher_throttled() {
    let server = media_server().await;
    let (m, b, _c, stop, sender) = camera_to_two(&server).await;
    // New subscriptions ask for keyframes themselves; let that settle.
    settle(1500).await;
    let plis = || m.plis.load(std::sync::atomic::Ordering::Relaxed);
    let camera = b.remote(&m, "camera");
    let ssrc = camera.ssrcs().await[0];
    let pli = || -> Vec<Box<dyn rtc::rtcp::Packet>> {
        vec![Box::new(
            rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication {
                sender_ssrc: 1,
                media_ssrc: ssrc,
            },
        )]
    };
    // One request every 600 ms: each reaches the publisher.
    let before = plis();
    for _ in 0..3 {
        camera.write_rtcp(pli()).await.unwrap();
        settle(600).await;
    }
    let relayed = plis() - before;
    assert!(relayed >= 3, "{relayed} of 3 spaced requests relayed");
    // A burst of ten within 100 ms: merged into one or two.
    settle(600).await;
    let before = plis();
    for _ in 0..10 {
        camera.write_rtcp(pli()).await.unwrap();
        settle(10).await;
    }
    settle(400).await;
    let burst = plis() - before;
    assert!((1..=2).contains(&burst), "a burst of 10 became {burst}");
    let _ = stop.send(());
    let _ = sender.await;
}

#[actix_web::test]
async fn the_server_announces_its_public_address_on_a_port_of_its_range() {
    let server = TestServer::start_with(
        Backend::Sqlite,
        |c| {
            c.media.bind_ip = std::net::IpAddr::from([127, 0, 0, 1]);
            c.media.public_ip = Some(std::net::IpAddr::from([203, 0, 113, 7]));
            c.media.port_min = 48100;
            c.media.port_max = 48199;
        },
        Arc::new(conclave::clock::SystemClock),
    )
    .await;
    let (code, pin) = line_with_security(&server).await;
    let mut ws = Ws::connect(&server).await;
    let joined = ws.join(&code, Some("2468"), Some(&pin), "Ann").await;
    assert_eq!(joined["type"], "joined");
    // A real offer, from a client connection with one audio track.
    let (out, _rx) = mpsc::unbounded_channel();
    let pc = new_pc(Arc::new(Candidates { pc: "publish", out })).await;
    pc.add_track(local_track(RtpCodecKind::Audio, "mic", 42) as Arc<dyn TrackLocal>)
        .await
        .unwrap();
    let offer = pc.create_offer(None).await.unwrap();
    let sdp = offer.sdp.clone();
    pc.set_local_description(offer).await.unwrap();
    let ack = ws
        .ask(json!({"type": "media_offer", "pc": "publish", "sdp": sdp, "tracks": {"mic": "microphone"}}))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    // The server's candidates, in its answer or trickled after it.
    let mut seen = String::new();
    while !seen.contains("typ host") {
        let m = ws.next().await.expect("the socket stays open");
        match m["type"].as_str() {
            Some("media_answer") => seen.push_str(m["sdp"].as_str().unwrap()),
            Some("media_candidate") => seen.push_str(m["candidate"]["candidate"].as_str().unwrap()),
            _ => {}
        }
    }
    assert!(seen.contains("203.0.113.7"), "the public address: {seen}");
    assert!(!seen.contains("127.0.0.1"), "not the private one: {seen}");
    let port: u16 = seen
        .split("203.0.113.7 ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .expect("a port after the address");
    assert!(
        (48100..=48199).contains(&port),
        "port {port} outside the range"
    );
    let _ = pc.close().await;
}

/// What the lossy path saw: the packets it dropped, and the sender
/// reports the server sent each client address.
struct Path {
    dropped: Arc<std::sync::atomic::AtomicU64>,
    sender_reports: Arc<Mutex<HashMap<std::net::SocketAddr, u64>>>,
}

/// A lossy network between clients and the server's media port: it
/// listens where the server announces itself, relays each client's
/// datagrams to the server from a socket of its own, and relays the
/// server's back, dropping every `nth` video RTP packet (the RTP header is
/// not encrypted by SRTP, so its payload type shows; nor is an SRTCP
/// packet's first header, so a sender report shows too).
async fn lossy_path(front: tokio::net::UdpSocket, server: std::net::SocketAddr, nth: u64) -> Path {
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::net::UdpSocket;
    let front = Arc::new(front);
    let dropped = Arc::new(AtomicU64::new(0));
    let reports = Arc::new(Mutex::new(HashMap::new()));
    let video = Arc::new(AtomicU64::new(0));
    let out = Path {
        dropped: dropped.clone(),
        sender_reports: reports.clone(),
    };
    tokio::spawn(async move {
        let mut upstreams: HashMap<std::net::SocketAddr, Arc<UdpSocket>> = HashMap::new();
        let mut buf = vec![0u8; 2048];
        while let Ok((n, client)) = front.recv_from(&mut buf).await {
            let up = match upstreams.get(&client) {
                Some(up) => up.clone(),
                None => {
                    let up = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
                    up.connect(server).await.unwrap();
                    upstreams.insert(client, up.clone());
                    let (up2, front, dropped, video, reports) = (
                        up.clone(),
                        front.clone(),
                        dropped.clone(),
                        video.clone(),
                        reports.clone(),
                    );
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 2048];
                        while let Ok(n) = up2.recv(&mut buf).await {
                            let d = &buf[..n];
                            // RTCP packet type 200: a sender report.
                            if n >= 8 && d[0] >> 6 == 2 && d[1] == 200 {
                                *reports.lock().unwrap().entry(client).or_insert(0) += 1;
                            }
                            let is_video = n >= 12 && d[0] >> 6 == 2 && d[1] & 0x7f == VP8_PT;
                            if is_video && video.fetch_add(1, Ordering::Relaxed) % nth == nth - 1 {
                                dropped.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                            let _ = front.send_to(d, client).await;
                        }
                    });
                    up
                }
            };
            let _ = up.send(&buf[..n]).await;
        }
    });
    out
}

#[actix_web::test]
async fn video_lost_on_the_way_to_a_subscriber_is_sent_again() {
    // The server announces 127.0.0.2, where the lossy path listens; it
    // binds 127.0.0.1 on the same port: one free on both addresses, the
    // path's end held from the start.
    let (front, port) = loop {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        if let Ok(front) = tokio::net::UdpSocket::bind(("127.0.0.2", port)).await {
            break (front, port);
        }
    };
    let server = TestServer::start_with(
        Backend::Sqlite,
        |c| {
            c.media.bind_ip = std::net::IpAddr::from([127, 0, 0, 1]);
            c.media.public_ip = Some(std::net::IpAddr::from([127, 0, 0, 2]));
            c.media.port_min = port;
            c.media.port_max = port;
        },
        Arc::new(conclave::clock::SystemClock),
    )
    .await;
    let path = lossy_path(front, ([127, 0, 0, 1], port).into(), 10).await;
    let (m, b, c, stop, sender) = camera_to_two(&server).await;
    let reports_before = path.sender_reports.lock().unwrap().clone();
    settle(6000).await;
    assert!(
        path.dropped.load(std::sync::atomic::Ordering::Relaxed) >= 10,
        "the path drops"
    );
    // Each subscriber is sent a sender report a second for the stream it
    // gets (its player's clock for lip sync and round-trip time).
    let reports = path.sender_reports.lock().unwrap().clone();
    let reported = reports
        .iter()
        .filter(|(at, n)| **n >= reports_before.get(at).unwrap_or(&0) + 4)
        .count();
    assert!(
        reported >= 2,
        "both subscribers get sender reports: {reports:?} (before {reports_before:?})"
    );
    for rx in [&b, &c] {
        let counts = rx.counts.lock().unwrap();
        let got = &counts[&(m.id.clone(), "camera".to_owned())];
        // The test sender numbers video n for ticks n % 5 < 3 (30 of 50
        // ticks a second): those are what was forwarded. The last 40
        // numbers (1.3 s) may still be under repair.
        let first = *got.seqs.first().unwrap();
        let last = got.seqs.last().unwrap().wrapping_sub(40);
        let missing: Vec<u16> = (first..=last)
            .filter(|n| n % 5 < 3 && !got.seqs.contains(n))
            .collect();
        let sent = (first..=last).filter(|n| n % 5 < 3).count();
        assert!(sent >= 80, "{sent} packets in the window");
        assert!(
            missing.len() <= 1,
            "{} of {sent} never repaired: {missing:?}",
            missing.len()
        );
    }
    assert!(metric(&server, "resent").await >= 10);

    // A subscriber that asks for everything again, as fast as it can, is
    // held to its budget and keeps its connection.
    let camera = b.remote(&m, "camera");
    let last = b.last_seq(&m, "camera");
    let refused = metric(&server, "resend_refused").await;
    for _ in 0..20 {
        // 16 pairs of 17 each: the whole history, 272 packets a NACK.
        nack_recent(&camera, last, 16).await;
    }
    settle(500).await;
    assert!(
        metric(&server, "resend_refused").await > refused,
        "a flood of NACKs meets the budget"
    );
    let before = b.received(&m, "camera");
    settle(1000).await;
    assert!(
        b.received(&m, "camera") > before + 10,
        "the flooding subscriber still receives"
    );
    let _ = stop.send(());
    let _ = sender.await;
}
