//! The media-forwarding actor: one per room, a task on the media runtime
//! that owns the room's peer connections (sans-IO `rtc` connections) and
//! published tracks. It takes [`Control`] messages from the room and the
//! datagrams the shared socket routes to its connections, forwards each
//! packet to every subscriber's connection, and sends what its connections
//! produced in one batch. The room holds its [`ForwarderHandle`] (the
//! [`MediaPort`]): gates are set synchronously in the handle, everything
//! else is a message.
//!
//! Each participant has up to two server connections: `publish` (the
//! client offers its tracks, the server answers) and `subscribe` (the
//! server offers everyone else's tracks, the client answers). Separate
//! directions mean either side renegotiates without glare. A publish
//! connection is `rtc`'s peer connection; a subscribe connection is the
//! server's own [`Leg`], which seals each copy without `rtc`'s pipeline.
//!
//! Here: the loop, the datagrams and timers, forwarding and feedback.
//! [`handle`]: the room's end. [`members`]: attaching, connections,
//! signalling and subscriptions.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Recipient;
use bytes::BytesMut;
use conclave_actors::media::{
    ClientSignal, FromMedia, MediaEvent, PhoneAudio, ServerSignal, TrackSource,
};
use conclave_actors::{ConferenceId, ParticipantId, SessionId};
use rtc::peer_connection::event::{RTCPeerConnectionEvent, RTCTrackEvent};
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::RTCPeerConnection;
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use tokio::sync::mpsc::{self, UnboundedReceiver};

use crate::gates::Gates;
use crate::history::ResendBudget;
use crate::leg::{self, Leg};
use crate::plane::Shared;
use crate::published::{ConnId, Published, TrackKey};
use crate::recording::Recording;
use crate::socket::{Datagram, Peer};
use crate::speaker::SpeakerDetector;

mod bandwidth;
mod feedback;
mod forward;
mod handle;
mod members;
mod phones;
mod reception;
mod recovery;
mod simulcast;

pub use handle::ForwarderHandle;

/// The callers' audio moves in 20 ms frames.
const PHONE_TICK: Duration = Duration::from_millis(20);
/// How often the active speaker is decided.
const SPEAKER_WINDOW: Duration = Duration::from_millis(300);
/// Datagrams queued for a room before the socket drops them: about 60 ms
/// of a busy room's input, so a stalled room cannot grow without bound.
const DATAGRAM_QUEUE: usize = 4096;
/// Datagrams taken in one go before what they produced is sent.
const DATAGRAM_BATCH: usize = 64;

/// One message to a forwarder.
pub enum Control {
    Attach {
        member: ParticipantId,
        gates: Arc<Gates>,
    },
    Detach {
        member: ParticipantId,
    },
    Signal {
        member: ParticipantId,
        signal: ClientSignal,
    },
    /// A phone caller: its gates, and its audio both ways.
    AttachPhone {
        member: ParticipantId,
        gates: Arc<Gates>,
        audio: Arc<PhoneAudio>,
    },
    Record(bool),
    Close,
    /// Test hook: the forwarder fails, to prove the handle restarts it.
    #[doc(hidden)]
    Panic,
}

struct Member {
    gates: Arc<Gates>,
    publish: Option<ConnId>,
    subscribe: Option<ConnId>,
    /// Declared track ids and what they are.
    sources: HashMap<String, TrackSource>,
    audio_level_id: Option<u8>,
    /// An offer is out and unanswered.
    offering: bool,
    /// Tracks changed while an offer was out: offer again after the answer.
    dirty: bool,
    /// The videos it hides (publisher and source), also for tracks those
    /// publish later.
    hidden: HashSet<(ParticipantId, TrackSource)>,
    /// The heights of its tiles, where it said.
    heights: HashMap<(ParticipantId, TrackSource), u32>,
    /// When its failed connections may be replaced again.
    backoff: recovery::Backoff,
    /// Its connections were replaced and none has come up since: a new
    /// one the client never reaches (its network still down) is replaced
    /// too.
    recovering: bool,
}

/// One server connection.
struct Conn {
    member: ParticipantId,
    link: Link,
    ufrag: String,
    /// The member's gates when the connection was made: a connection's
    /// state speaks for it alone, not for one made after it.
    gates: Arc<Gates>,
    /// When the connection next wants its timers run.
    deadline: Option<Instant>,
    /// Waiting in `touched` to be drained.
    touched: bool,
}

/// Boxed: a peer connection is several KB, and a table of connections
/// inline reserves that for every empty slot and moves it all on growth.
enum Link {
    Publish(Box<RTCPeerConnection>),
    Subscribe(Box<Subscribe>),
}

/// A subscribe connection and what it sends.
struct Subscribe {
    leg: Leg,
    /// Its offer's sections, in mid order; a track that went away leaves
    /// its section inactive until a new one takes it.
    sections: Vec<leg::Section>,
    /// The forwarded track behind each SSRC it sends.
    by_ssrc: HashMap<u32, TrackKey>,
    /// How many copies it may still be sent again on NACKs.
    resends: ResendBudget,
    /// Has sent media: the sender reports' timer is armed.
    has_sent: bool,
    /// What the client says it can receive (REMB), in bit/s, and when it
    /// last said.
    estimate: Option<(u64, Instant)>,
    /// Probing upward past the estimate (probing.rs).
    probe: crate::probing::Probe,
    /// Loss and round trip, from its client's receiver reports.
    reception: crate::quality::Reception,
    /// The server's own estimate of its link, when it adapts to
    /// bandwidth (bwe.rs).
    bwe: Option<crate::bwe::Estimator>,
}

impl Conn {
    fn pc(&mut self) -> Option<&mut RTCPeerConnection> {
        match &mut self.link {
            Link::Publish(pc) => Some(pc),
            Link::Subscribe(_) => None,
        }
    }

    fn sub(&mut self) -> Option<&mut Subscribe> {
        match &mut self.link {
            Link::Subscribe(s) => Some(s),
            Link::Publish(_) => None,
        }
    }
}

struct Forwarder {
    shared: Arc<Shared>,
    conference: ConferenceId,
    session: SessionId,
    events: Recipient<FromMedia>,
    /// Registered with the socket for this room's connections.
    inbox: mpsc::Sender<Datagram>,
    members: HashMap<ParticipantId, Member>,
    conns: HashMap<ConnId, Conn>,
    tracks: Vec<Published>,
    speakers: SpeakerDetector,
    /// Phone callers and what they hear; `None` while nobody calls in.
    phones: Option<Box<crate::phone::Phones>>,
    recording: Option<Recording>,
    next_track: u64,
    /// Connections with output or events to drain.
    touched: Vec<ConnId>,
    /// Datagrams to send, in order.
    out: Vec<(Peer, BytesMut)>,
    events_scratch: Vec<RTCPeerConnectionEvent>,
    messages_scratch: Vec<RTCMessage>,
    /// This room's video subscriptions by what they are sent, in
    /// `/metrics`.
    layers: crate::quality::LayerTally,
}

/// Where a publish connection's datagram goes: over the UDP port, or the
/// TCP connection its candidate pair runs on.
fn written_to(transport: &TransportContext) -> Peer {
    Peer {
        addr: transport.peer_addr,
        tcp: transport.transport_protocol == TransportProtocol::TCP,
    }
}

impl Forwarder {
    async fn run(
        mut self,
        mut rx: UnboundedReceiver<Control>,
        mut datagrams: mpsc::Receiver<Datagram>,
    ) {
        let mut speaker_tick = tokio::time::interval(SPEAKER_WINDOW);
        let mut reception_tick = tokio::time::interval(reception::TICK);
        let mut phone_tick = tokio::time::interval(PHONE_TICK);
        phone_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let far = Duration::from_secs(3600);
        loop {
            let deadline = self
                .conns
                .values()
                .filter_map(|c| c.deadline)
                .min()
                .unwrap_or_else(|| Instant::now() + far);
            tokio::select! {
                msg = rx.recv() => {
                    match msg {
                        None | Some(Control::Close) => break,
                        Some(msg) => self.handle(msg),
                    }
                }
                d = datagrams.recv() => {
                    let Some(d) = d else { break };
                    self.datagram(d);
                    for _ in 1..DATAGRAM_BATCH {
                        match datagrams.try_recv() {
                            Ok(d) => self.datagram(d),
                            Err(_) => break,
                        }
                    }
                }
                _ = tokio::time::sleep_until(deadline.into()) => self.timeouts(),
                _ = phone_tick.tick(), if self.phones.is_some() => self.phone_tick(),
                _ = reception_tick.tick() => {
                    self.tell_reception();
                    self.reconnect_owed();
                }
                _ = speaker_tick.tick() => {
                    if let Some(who) = self.speakers.tick() {
                        self.emit(MediaEvent::ActiveSpeaker(who));
                    }
                    // A layer the publisher stopped sending is left; each
                    // subscriber's bandwidth is divided again.
                    self.allocate_all();
                    self.retarget_simulcast();
                }
            }
            self.flush().await;
        }
        self.shut_down().await;
    }

    fn emit(&self, event: MediaEvent) {
        self.events.do_send(FromMedia(event));
    }

    fn signal(&self, to: ParticipantId, signal: ServerSignal) {
        self.emit(MediaEvent::Signal { to, signal });
    }

    fn touch(&mut self, id: ConnId) {
        if let Some(c) = self.conns.get_mut(&id) {
            if !c.touched {
                c.touched = true;
                self.touched.push(id);
            }
        }
    }

    /// Drains every touched connection (which may touch others: a packet
    /// read on one is written to many), then sends the lot.
    async fn flush(&mut self) {
        while let Some(id) = self.touched.pop() {
            self.drain(id);
        }
        if !self.out.is_empty() {
            let mut out = std::mem::take(&mut self.out);
            self.shared.socket.send_all(&mut out).await;
            self.out = out;
        }
    }

    /// Takes a connection's datagrams, events and messages, and acts on them.
    fn drain(&mut self, id: ConnId) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.touched = false;
        let pc = match &mut c.link {
            Link::Publish(pc) => pc,
            Link::Subscribe(s) => {
                // A leg's events were acted on as they happened.
                while let Some(t) = s.leg.poll_transmit() {
                    self.out.push(t);
                }
                c.deadline = s.leg.poll_timeout();
                return;
            }
        };
        while let Some(w) = pc.poll_write() {
            self.out.push((written_to(&w.transport), w.message));
        }
        // Reused between drains: one per packet on the forwarding path.
        let mut events = std::mem::take(&mut self.events_scratch);
        let mut messages = std::mem::take(&mut self.messages_scratch);
        while let Some(e) = pc.poll_event() {
            events.push(e);
        }
        while let Some(m) = pc.poll_read() {
            messages.push(m.message);
        }
        c.deadline = pc.poll_timeout();
        for e in events.drain(..) {
            self.on_event(id, e);
        }
        for m in messages.drain(..) {
            self.on_message(id, m);
        }
        self.events_scratch = events;
        self.messages_scratch = messages;
    }

    fn timeouts(&mut self) {
        let now = Instant::now();
        let due: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let mut events = Vec::new();
            if let Some(c) = self.conns.get_mut(&id) {
                c.deadline = None;
                match &mut c.link {
                    Link::Publish(pc) => {
                        if let Err(e) = pc.handle_timeout(now) {
                            tracing::debug!(error = %e, "media connection timeout");
                        }
                    }
                    Link::Subscribe(s) => s.leg.handle_timeout(now, &mut events),
                }
            }
            self.on_leg_events(id, events);
            self.touch(id);
        }
    }

    /// One datagram from the socket, for one of this room's connections.
    fn datagram(&mut self, d: Datagram) {
        let id = d.conn;
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let pc = match &mut c.link {
            Link::Publish(pc) => pc,
            Link::Subscribe(s) => {
                let mut events = Vec::new();
                s.leg.read(d.at, d.from, d.bytes, &mut events);
                self.on_leg_events(id, events);
                self.touch(id);
                return;
            }
        };
        // The local address names the candidate it came to: the TCP
        // port's passive one, or the UDP port's.
        let (local_addr, transport_protocol) = match &self.shared.socket.tcp {
            Some(tcp) if d.from.tcp => (tcp.announced, TransportProtocol::TCP),
            _ => (self.shared.socket.announced, TransportProtocol::UDP),
        };
        let read = pc.handle_read(TaggedBytesMut {
            now: d.at,
            transport: TransportContext {
                local_addr,
                peer_addr: d.from.addr,
                transport_protocol,
                ecn: None,
            },
            message: d.bytes,
        });
        if let Err(e) = read {
            tracing::trace!(error = %e, "media datagram refused");
        }
        self.touch(id);
    }

    fn handle(&mut self, msg: Control) {
        match msg {
            Control::Attach { member, gates } => self.attach(member, gates),
            Control::Detach { member } => self.detach(member),
            Control::Signal { member, signal } => {
                if let Err(e) = self.on_signal(member, signal) {
                    tracing::warn!(conference = %self.conference, member = %member, error = %e, "media signalling failed");
                }
            }
            Control::AttachPhone {
                member,
                gates,
                audio,
            } => self.attach_phone(member, gates, audio),
            Control::Record(on) => self.record(on),
            Control::Close => {}
            Control::Panic => panic!("injected media forwarder failure"),
        }
    }

    fn on_event(&mut self, id: ConnId, event: RTCPeerConnectionEvent) {
        match event {
            RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) => {
                let Some(member) = self.conns.get(&id).map(|c| c.member) else {
                    return;
                };
                tracing::debug!(conference = %self.conference, member = %member, pc = "publish", ?state, "media connection");
                match state {
                    RTCPeerConnectionState::Failed => self.reconnect(member),
                    RTCPeerConnectionState::Connected => {
                        if let Some(m) = self.members.get_mut(&member) {
                            m.recovering = false;
                        }
                    }
                    _ => {}
                }
            }
            RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnOpen(init)) => self.on_track(id, init),
            _ => {}
        }
    }

    fn on_leg_events(&mut self, id: ConnId, events: Vec<leg::Event>) {
        for event in events {
            match event {
                leg::Event::Connected => self.subscriber_up(id, true),
                leg::Event::Lost { retry } => {
                    self.subscriber_up(id, false);
                    let Some(member) = self.conns.get(&id).map(|c| c.member) else {
                        continue;
                    };
                    let recovering = self.members.get(&member).is_some_and(|m| m.recovering);
                    if retry || recovering {
                        self.reconnect(member);
                    }
                }
                leg::Event::Feedback(packets) => self.on_feedback(id, &packets),
                leg::Event::Transport(observed) => self.on_transport(id, &observed),
            }
        }
    }

    fn subscriber_up(&mut self, id: ConnId, up: bool) {
        let Some(c) = self.conns.get(&id) else {
            return;
        };
        let member = c.member;
        tracing::debug!(conference = %self.conference, member = %member, pc = "subscribe", up, "media connection");
        c.gates.set_receiving(up);
        if up {
            if let Some(m) = self.members.get_mut(&member) {
                m.recovering = false;
            }
            // A fresh receiver needs a keyframe to show video (of
            // everyone's tracks but its own).
            for i in 0..self.tracks.len() {
                if self.tracks[i].key.publisher != member {
                    self.request_keyframes(i);
                }
            }
        }
    }

    /// What a publish connection hands up: RTP. It hands up no RTCP: its
    /// interceptors act on it.
    fn on_message(&mut self, id: ConnId, message: RTCMessage) {
        if let RTCMessage::RtpPacket(track_id, packet) = message {
            let Some(i) = self
                .tracks
                .iter()
                .position(|t| t.conn == id && t.key.track_id == track_id)
            else {
                return;
            };
            // A simulcast track's layers share its id; the SSRC tells them
            // apart.
            let Some(l) = self.tracks[i].layer_of(packet.header.ssrc) else {
                return;
            };
            self.forward(i, l, packet);
        }
    }

    fn record(&mut self, on: bool) {
        if on == self.recording.is_some() {
            return;
        }
        if !on {
            for t in &mut self.tracks {
                t.tap = None;
            }
            if let Some(rec) = self.recording.take() {
                rec.stop();
            }
            return;
        }
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let dir = self
            .shared
            .config
            .recordings_dir
            .join(self.conference.to_string())
            .join(format!("{}-{started}", self.session));
        let key = match &self.shared.config.recording_keys {
            crate::config::RecordingKeys::Clear => None,
            crate::config::RecordingKeys::Sealed(lookup) => match lookup(self.session) {
                Some(key) => Some(key),
                None => {
                    tracing::error!(session = %self.session, "no key for this summary: not recording");
                    return;
                }
            },
        };
        let events = self.events.clone();
        match Recording::start(dir, key, move |file| {
            events.do_send(FromMedia(MediaEvent::Recorded(file)))
        }) {
            Ok(mut rec) => {
                for t in &mut self.tracks {
                    t.tap = Some(rec.tap(t.key.publisher, t.source));
                }
                self.recording = Some(rec);
            }
            Err(e) => tracing::error!(error = %e, "cannot start a recording"),
        }
    }

    async fn shut_down(&mut self) {
        self.record(false);
        for (_, m) in self.members.drain() {
            m.gates.detach();
        }
        let ids: Vec<_> = self.conns.keys().copied().collect();
        for id in ids {
            self.close_conn(id);
        }
        self.flush().await;
        tracing::debug!(conference = %self.conference, session = %self.session, "media forwarder stopped");
    }
}
