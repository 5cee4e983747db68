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

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Recipient;
use bytes::BytesMut;
use conclave_actors::media::{
    ClientSignal, FromMedia, MediaEvent, MediaPort, PcKind, ServerSignal, TrackSource,
};
use conclave_actors::{ConferenceId, ParticipantId, SessionId};
use rtc::peer_connection::event::{RTCPeerConnectionEvent, RTCTrackEvent, RTCTrackEventInit};
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::RTCIceCandidateInit;
use rtc::peer_connection::RTCPeerConnection;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use tokio::sync::mpsc::{self, unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::gates::Gates;
use crate::history::ResendBudget;
use crate::leg::{self, Leg, Sending};
use crate::peer;
use crate::plane::Shared;
use crate::published::{ConnId, Published, Subscription, TrackKey};
use crate::recording::Recording;
use crate::socket::Datagram;
use crate::speaker::SpeakerDetector;

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
    Record(bool),
    Close,
    /// Test hook: the forwarder fails, to prove the handle restarts it.
    #[doc(hidden)]
    Panic,
}

/// The room's end: implements the port, and supervises the forwarder: one
/// that died (a panic) is started again on the next message, with every
/// participant attached as before, and the room is told so that clients
/// publish again.
pub struct ForwarderHandle {
    tx: UnboundedSender<Control>,
    gates: HashMap<ParticipantId, Arc<Gates>>,
    shared: Arc<Shared>,
    conference: ConferenceId,
    session: SessionId,
    events: Recipient<FromMedia>,
    recording: bool,
    closed: bool,
}

impl ForwarderHandle {
    /// Starts a room's forwarder on the media runtime.
    pub fn spawn(
        shared: Arc<Shared>,
        conference: ConferenceId,
        session: SessionId,
        events: Recipient<FromMedia>,
    ) -> Self {
        let tx = start(&shared, conference, session, &events);
        Self {
            tx,
            gates: HashMap::new(),
            shared,
            conference,
            session,
            events,
            recording: false,
            closed: false,
        }
    }

    fn send(&mut self, control: Control) {
        let Err(failed) = self.tx.send(control) else {
            return;
        };
        if self.closed {
            return;
        }
        tracing::error!(conference = %self.conference, "media forwarder died; starting it again");
        self.tx = start(&self.shared, self.conference, self.session, &self.events);
        // The old forwarder's loops may still hold tracks: nothing passes
        // their gates any more. Everyone is attached afresh.
        for (id, gates) in self.gates.iter_mut() {
            let fresh = Arc::new(gates.renewed());
            gates.detach();
            *gates = fresh.clone();
            let _ = self.tx.send(Control::Attach {
                member: *id,
                gates: fresh,
            });
        }
        if self.recording {
            let _ = self.tx.send(Control::Record(true));
        }
        self.events.do_send(FromMedia(MediaEvent::Restarted));
        let _ = self.tx.send(failed.0);
    }

    /// Test hook: makes the forwarder fail.
    #[doc(hidden)]
    pub fn inject_panic(&mut self) {
        let _ = self.tx.send(Control::Panic);
    }
}

/// Spawns a forwarder; answers its inbox.
fn start(
    shared: &Arc<Shared>,
    conference: ConferenceId,
    session: SessionId,
    events: &Recipient<FromMedia>,
) -> UnboundedSender<Control> {
    let (tx, rx) = unbounded_channel();
    let (inbox, datagrams) = mpsc::channel(DATAGRAM_QUEUE);
    let forwarder = Forwarder {
        shared: shared.clone(),
        conference,
        session,
        events: events.clone(),
        inbox,
        members: HashMap::new(),
        conns: HashMap::new(),
        tracks: Vec::new(),
        speakers: SpeakerDetector::default(),
        recording: None,
        next_track: 0,
        touched: Vec::new(),
        out: Vec::new(),
        events_scratch: Vec::new(),
        messages_scratch: Vec::new(),
    };
    shared.runtime.spawn(forwarder.run(rx, datagrams));
    tx
}

impl MediaPort for ForwarderHandle {
    fn attach(&mut self, id: ParticipantId, may_share: bool) {
        let gates = Arc::new(Gates::new(may_share));
        if let Some(old) = self.gates.insert(id, gates.clone()) {
            old.detach();
        }
        self.send(Control::Attach { member: id, gates });
    }

    fn detach(&mut self, id: ParticipantId) {
        if let Some(g) = self.gates.remove(&id) {
            // Before returning: the room acknowledges the removal next.
            g.detach();
            self.send(Control::Detach { member: id });
        }
    }

    fn signal(&mut self, id: ParticipantId, signal: ClientSignal) {
        self.send(Control::Signal { member: id, signal });
    }

    fn mute(&mut self, id: ParticipantId, muted: bool) {
        if let Some(g) = self.gates.get(&id) {
            g.mute(muted);
        }
    }

    fn allow_screen(&mut self, id: ParticipantId, allowed: bool) {
        if let Some(g) = self.gates.get(&id) {
            g.allow_screen(allowed);
        }
    }

    fn record(&mut self, on: bool) {
        self.recording = on;
        self.send(Control::Record(on));
    }

    fn close(&mut self) {
        self.closed = true;
        for (_, g) in self.gates.drain() {
            g.detach();
        }
        self.send(Control::Close);
    }
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
    recording: Option<Recording>,
    next_track: u64,
    /// Connections with output or events to drain.
    touched: Vec<ConnId>,
    /// Datagrams to send, in order.
    out: Vec<(SocketAddr, BytesMut)>,
    events_scratch: Vec<RTCPeerConnectionEvent>,
    messages_scratch: Vec<RTCMessage>,
}

impl Forwarder {
    async fn run(
        mut self,
        mut rx: UnboundedReceiver<Control>,
        mut datagrams: mpsc::Receiver<Datagram>,
    ) {
        let mut speaker_tick = tokio::time::interval(SPEAKER_WINDOW);
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
                _ = speaker_tick.tick() => {
                    if let Some(who) = self.speakers.tick() {
                        self.emit(MediaEvent::ActiveSpeaker(who));
                    }
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
            self.out.push((w.transport.peer_addr, w.message));
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
        let read = pc.handle_read(TaggedBytesMut {
            now: d.at,
            transport: TransportContext {
                local_addr: self.shared.socket.announced,
                peer_addr: d.from,
                transport_protocol: TransportProtocol::UDP,
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
            Control::Record(on) => self.record(on),
            Control::Close => {}
            Control::Panic => panic!("injected media forwarder failure"),
        }
    }

    fn on_event(&mut self, id: ConnId, event: RTCPeerConnectionEvent) {
        match event {
            RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) => {
                if let Some(c) = self.conns.get(&id) {
                    tracing::debug!(conference = %self.conference, member = %c.member, pc = "publish", ?state, "media connection");
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
                leg::Event::Lost => self.subscriber_up(id, false),
                leg::Event::Feedback(packets) => self.on_feedback(id, &packets),
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
            // A fresh receiver needs a keyframe to show video (of
            // everyone's tracks but its own).
            for i in 0..self.tracks.len() {
                if self.tracks[i].key.publisher != member {
                    self.request_keyframe(i);
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
            self.forward(i, packet);
        }
    }

    /// RTCP from a subscriber: keyframe requests and NACKs, for the track
    /// behind the SSRC named; the rest (receiver reports) is not used.
    fn on_feedback(&mut self, id: ConnId, packets: &[Box<dyn rtc::rtcp::Packet>]) {
        let Some(c) = self.conns.get_mut(&id).and_then(|c| c.sub()) else {
            return;
        };
        let mut asked = Vec::new();
        let mut lost = Vec::new();
        for p in packets.iter() {
            if crate::keyframes::is_keyframe_request(p.as_ref()) {
                asked.extend(p.destination_ssrc().iter().filter_map(|s| c.by_ssrc.get(s)));
            } else if let Some(nack) = p.as_any().downcast_ref::<TransportLayerNack>() {
                if let Some(key) = c.by_ssrc.get(&nack.media_ssrc) {
                    lost.push((key, nack));
                }
            }
        }
        let asked: Vec<usize> = asked
            .into_iter()
            .filter_map(|key| self.tracks.iter().position(|t| t.key == *key))
            .collect();
        let lost: Vec<(usize, &TransportLayerNack)> = lost
            .into_iter()
            .filter_map(|(key, nack)| Some((self.tracks.iter().position(|t| t.key == *key)?, nack)))
            .collect();
        for (i, nack) in lost {
            self.resend(id, i, nack);
        }
        for i in asked {
            self.request_keyframe(i);
        }
    }

    /// Sends connection `id` again the copies of track `i` its NACK reports
    /// lost, from the track's history, within the connection's budget.
    fn resend(&mut self, id: ConnId, i: usize, nack: &TransportLayerNack) {
        let track = &self.tracks[i];
        let Some(sub) = track.subscribers.iter().find(|s| s.conn == id) else {
            return;
        };
        // The gates as for a first copy: nothing again to someone removed
        // since, nor of a publisher removed, muted or refused the screen
        // since.
        if !sub.gates.receiving() || !track.gates.open(track.source) {
            return;
        }
        let Some(c) = self.conns.get_mut(&id).and_then(|c| c.sub()) else {
            return;
        };
        let now = Instant::now();
        let counters = &self.shared.counters;
        for seq in crate::history::lost(nack) {
            let Some(packet) = track.resend(seq) else {
                continue;
            };
            if !c.resends.take(now) {
                counters.resend_refused.fetch_add(1, Ordering::Relaxed);
                break;
            }
            if c.leg
                .send_rtp(now, &sub.copy_of(packet), sub.clock_rate, &mut self.out)
            {
                counters.resent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// One packet of track `i`, to every subscriber whose connection is up.
    fn forward(&mut self, i: usize, packet: rtc::rtp::Packet) {
        let counters = &self.shared.counters;
        let track = &mut self.tracks[i];
        let Some(packet) = track.admit(packet, &mut self.speakers, counters) else {
            return;
        };
        let now = Instant::now();
        for sub in &track.subscribers {
            if !sub.gates.receiving() {
                continue;
            }
            let Some(c) = self.conns.get_mut(&sub.conn) else {
                continue;
            };
            let deadline = &mut c.deadline;
            let Link::Subscribe(s) = &mut c.link else {
                continue;
            };
            if s.leg
                .send_rtp(now, &sub.copy_of(&packet), sub.clock_rate, &mut self.out)
            {
                counters.forwarded.fetch_add(1, Ordering::Relaxed);
                if !s.has_sent {
                    // The first copy arms the sender reports' timer.
                    s.has_sent = true;
                    *deadline = s.leg.poll_timeout();
                }
            }
        }
    }

    /// Asks track `i`'s publisher for a keyframe, at most once per throttle
    /// interval.
    fn request_keyframe(&mut self, i: usize) {
        let track = &mut self.tracks[i];
        if !track.keyframe_due(Instant::now()) {
            return;
        }
        let (conn, receiver, media_ssrc) = (track.conn, track.receiver, track.media_ssrc);
        let Some(pc) = self.conns.get_mut(&conn).and_then(|c| c.pc()) else {
            return;
        };
        if let Some(mut r) = pc.rtp_receiver(receiver) {
            let pli = PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc,
            };
            let _ = r.write_rtcp(Instant::now(), vec![Box::new(pli)]);
        }
        self.touch(conn);
    }

    fn attach(&mut self, member: ParticipantId, gates: Arc<Gates>) {
        if self.members.contains_key(&member) {
            // Attached again (peer-to-peer and back): start clean.
            self.detach(member);
        }
        self.members.insert(
            member,
            Member {
                gates,
                publish: None,
                subscribe: None,
                sources: HashMap::new(),
                audio_level_id: None,
                offering: false,
                dirty: false,
            },
        );
        let existing: Vec<usize> = (0..self.tracks.len())
            .filter(|&i| self.tracks[i].key.publisher != member)
            .collect();
        if existing.is_empty() {
            return;
        }
        for i in existing {
            self.add_subscription(member, i);
        }
        self.negotiate(member);
    }

    /// Opens a connection for `member`, routed to this room.
    fn open_conn(&mut self, member: ParticipantId, kind: PcKind) -> Result<ConnId, String> {
        let gates = self
            .members
            .get(&member)
            .ok_or("not attached to media")?
            .gates
            .clone();
        let (link, ufrag) = if kind == PcKind::Subscribe {
            let (ufrag, pwd) = crate::conn::credentials();
            let certificate = self
                .shared
                .certificate
                .current()
                .map_err(|e| e.to_string())?;
            let leg = Leg::new(certificate, ufrag.clone(), pwd, Instant::now())
                .map_err(|e| e.to_string())?;
            let sub = Subscribe {
                leg,
                sections: Vec::new(),
                by_ssrc: HashMap::new(),
                resends: ResendBudget::default(),
                has_sent: false,
            };
            (Link::Subscribe(Box::new(sub)), ufrag)
        } else {
            let (pc, ufrag) =
                crate::conn::build(self.shared.socket.announced, &self.shared.certificate)
                    .map_err(|e| e.to_string())?;
            (Link::Publish(Box::new(pc)), ufrag)
        };
        let id = self.shared.socket.register(&ufrag, self.inbox.clone());
        self.conns.insert(
            id,
            Conn {
                member,
                link,
                ufrag,
                gates,
                deadline: None,
                touched: false,
            },
        );
        let m = self
            .members
            .get_mut(&member)
            .ok_or("not attached to media")?;
        match kind {
            PcKind::Subscribe => m.subscribe = Some(id),
            _ => m.publish = Some(id),
        }
        Ok(id)
    }

    /// Closes a connection: the client is told by DTLS, and its routes go.
    fn close_conn(&mut self, id: ConnId) {
        let Some(mut c) = self.conns.remove(&id) else {
            return;
        };
        c.gates.set_receiving(false);
        match &mut c.link {
            Link::Publish(pc) => {
                let _ = pc.close();
                while let Some(w) = pc.poll_write() {
                    self.out.push((w.transport.peer_addr, w.message));
                }
            }
            Link::Subscribe(s) => {
                s.leg.close(Instant::now());
                while let Some(t) = s.leg.poll_transmit() {
                    self.out.push(t);
                }
            }
        }
        self.shared.socket.forget(&c.ufrag);
    }

    fn detach(&mut self, member: ParticipantId) {
        let Some(gone) = self.members.remove(&member) else {
            return;
        };
        gone.gates.detach();
        for id in [gone.publish, gone.subscribe].into_iter().flatten() {
            self.close_conn(id);
        }
        // Their tracks leave everyone's subscribe connection.
        let (theirs, others): (Vec<_>, Vec<_>) = self
            .tracks
            .drain(..)
            .partition(|t| t.key.publisher == member);
        self.tracks = others;
        let mut renegotiate = Vec::new();
        for track in &theirs {
            for sub in &track.subscribers {
                let Some(s) = self.conns.get_mut(&sub.conn).and_then(|c| c.sub()) else {
                    continue;
                };
                s.by_ssrc.remove(&sub.ssrc);
                s.leg.forget(sub.ssrc);
                leg::offer::free(&mut s.sections, sub.ssrc);
                renegotiate.push(sub.member);
            }
        }
        for track in &mut self.tracks {
            track.subscribers.retain(|s| s.member != member);
        }
        if let Some(change) = self.speakers.forget(member) {
            self.emit(MediaEvent::ActiveSpeaker(change));
        }
        renegotiate.sort();
        renegotiate.dedup();
        for id in renegotiate {
            self.negotiate(id);
        }
    }

    fn on_signal(&mut self, member: ParticipantId, signal: ClientSignal) -> Result<(), String> {
        let m = self.members.get(&member).ok_or("not attached to media")?;
        match signal {
            ClientSignal::Offer {
                pc: PcKind::Publish,
                sdp,
                tracks,
            } => {
                let id = match m.publish {
                    Some(id) => id,
                    None => self.open_conn(member, PcKind::Publish)?,
                };
                let m = self.members.get_mut(&member).ok_or("not attached")?;
                m.sources.extend(tracks);
                if let Some(level) = crate::sdp::audio_level_id(&sdp) {
                    m.audio_level_id = Some(level);
                }
                let pc = self
                    .conns
                    .get_mut(&id)
                    .and_then(|c| c.pc())
                    .ok_or("no publish connection")?;
                let offer = RTCSessionDescription::offer(sdp).map_err(|e| e.to_string())?;
                pc.set_remote_description(Instant::now(), offer)
                    .map_err(|e| e.to_string())?;
                let answer = pc.create_answer(None).map_err(|e| e.to_string())?;
                let sdp = answer.sdp.clone();
                pc.set_local_description(Instant::now(), answer)
                    .map_err(|e| e.to_string())?;
                self.touch(id);
                self.signal(
                    member,
                    ServerSignal::Answer {
                        pc: PcKind::Publish,
                        sdp,
                    },
                );
            }
            ClientSignal::Answer {
                pc: PcKind::Subscribe,
                sdp,
            } => {
                let id = m.subscribe.ok_or("no subscribe offer is out")?;
                if !m.offering {
                    return Err("no subscribe offer is out".into());
                }
                let s = self
                    .conns
                    .get_mut(&id)
                    .and_then(|c| c.sub())
                    .ok_or("no subscribe connection")?;
                s.leg
                    .answer(Instant::now(), &sdp)
                    .map_err(|e| format!("the subscribe answer cannot be used: {e:?}"))?;
                self.touch(id);
                let m = self.members.get_mut(&member).ok_or("not attached")?;
                m.offering = false;
                if std::mem::take(&mut m.dirty) {
                    self.negotiate(member);
                }
            }
            ClientSignal::Candidate { pc, candidate } => {
                let id = match pc {
                    PcKind::Publish => m.publish,
                    PcKind::Subscribe => m.subscribe,
                    PcKind::Peer => None,
                }
                .ok_or("no such connection yet")?;
                let init: RTCIceCandidateInit =
                    serde_json::from_str(&candidate).map_err(|e| e.to_string())?;
                // The server is ICE-lite: a client's candidates are where its
                // checks come from, which it finds on its own. `rtc` keeps
                // them for stats; a leg has no use for them.
                if let Some(pc) = self.conns.get_mut(&id).and_then(|c| c.pc()) {
                    pc.add_remote_candidate(init).map_err(|e| e.to_string())?;
                }
                self.touch(id);
            }
            _ => return Err("unexpected signal for the server".into()),
        }
        Ok(())
    }

    fn on_track(&mut self, id: ConnId, init: RTCTrackEventInit) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let member = c.member;
        let Some(kind) = c
            .pc()
            .and_then(|pc| pc.rtp_receiver(init.receiver_id))
            .map(|r| r.track().kind())
        else {
            return;
        };
        let Some(m) = self.members.get(&member) else {
            return;
        };
        let Some(source) = m.sources.get(&init.track_id).copied() else {
            tracing::info!(conference = %self.conference, member = %member, "undeclared track is not forwarded");
            return;
        };
        if source.is_audio() != (kind == RtpCodecKind::Audio) {
            tracing::info!(conference = %self.conference, member = %member, "track kind does not match its declared source");
            return;
        }
        let key = TrackKey {
            publisher: member,
            track_id: init.track_id,
        };
        if self.tracks.iter().any(|t| t.key == key) {
            return;
        }
        let mut published = Published::new(
            key,
            source,
            id,
            init.receiver_id,
            init.ssrc,
            m.gates.clone(),
            m.audio_level_id,
        );
        if let Some(rec) = &mut self.recording {
            published.tap = Some(rec.tap(member, source));
        }
        self.tracks.push(published);
        let i = self.tracks.len() - 1;
        let others: Vec<_> = self
            .members
            .keys()
            .copied()
            .filter(|m| *m != member)
            .collect();
        for other in others {
            self.add_subscription(other, i);
            self.negotiate(other);
        }
    }

    /// Adds track `i` to `member`'s subscribe connection (made on first use).
    fn add_subscription(&mut self, member: ParticipantId, i: usize) {
        let Some(m) = self.members.get(&member) else {
            return;
        };
        let id = match m.subscribe {
            Some(id) => id,
            None => match self.open_conn(member, PcKind::Subscribe) {
                Ok(id) => id,
                Err(e) => {
                    tracing::warn!(member = %member, error = %e, "cannot open a subscribe connection");
                    return;
                }
            },
        };
        self.next_track += 1;
        let n = self.next_track;
        let track = &self.tracks[i];
        let audio = track.source.is_audio();
        let (payload_type, clock_rate) = if audio {
            (peer::OPUS_PT, 48_000)
        } else {
            (peer::VP8_PT, 90_000)
        };
        // Random, never 0: SSRCs only need to differ within a connection.
        let ssrc = crate::conn::random_u32().max(1);
        // The stream is the publisher, so a client groups its tracks; the
        // track id says what it is.
        let sending = Sending {
            ssrc,
            stream: track.key.publisher.to_string(),
            track: format!("{}-{n}", track.source.as_str()),
        };
        let key = track.key.clone();
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let gates = c.gates.clone();
        let Some(s) = c.sub() else {
            return;
        };
        leg::offer::place(&mut s.sections, audio, sending);
        s.by_ssrc.insert(ssrc, key);
        let track = &mut self.tracks[i];
        track.subscribers.retain(|s| s.member != member);
        track.subscribers.push(Subscription {
            member,
            conn: id,
            gates,
            ssrc,
            payload_type,
            clock_rate,
        });
        self.request_keyframe(i);
    }

    /// Offers `member` its current tracks, or marks it for after the
    /// answer to the offer that is out.
    fn negotiate(&mut self, member: ParticipantId) {
        let Some(m) = self.members.get_mut(&member) else {
            return;
        };
        let Some(id) = m.subscribe else {
            return;
        };
        if m.offering {
            m.dirty = true;
            return;
        }
        let Some(s) = self.conns.get_mut(&id).and_then(|c| c.sub()) else {
            return;
        };
        let sdp = s.leg.offer(self.shared.socket.announced, &s.sections);
        m.offering = true;
        self.touch(id);
        self.signal(
            member,
            ServerSignal::Offer {
                pc: PcKind::Subscribe,
                sdp,
            },
        );
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
        let events = self.events.clone();
        match Recording::start(dir, move |file| {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MediaConfig, MediaPlane};
    use actix::prelude::*;
    use std::sync::Mutex;

    struct Collect(Arc<Mutex<Vec<MediaEvent>>>);

    impl Actor for Collect {
        type Context = Context<Self>;
    }

    impl Handler<FromMedia> for Collect {
        type Result = ();

        fn handle(&mut self, msg: FromMedia, _: &mut Self::Context) {
            self.0.lock().unwrap().push(msg.0);
        }
    }

    #[actix::test]
    async fn a_dead_forwarder_is_started_again_with_everyone_attached() {
        let plane = MediaPlane::new(MediaConfig {
            bind_ip: std::net::IpAddr::from([127, 0, 0, 1]),
            ..MediaConfig::default()
        })
        .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let events = Collect(seen.clone()).start().recipient();
        let mut h = ForwarderHandle::spawn(
            plane.shared(),
            ConferenceId::new(),
            SessionId::new(),
            events,
        );
        let a = ParticipantId::new();
        h.attach(a, true);
        h.mute(a, true);
        let old = h.gates[&a].clone();
        h.inject_panic();
        for _ in 0..100 {
            if h.tx.is_closed() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(h.tx.is_closed(), "the forwarder died");
        h.record(false);
        assert!(!h.tx.is_closed(), "started again on the next message");
        assert!(!old.attached(), "the dead forwarder's loops pass nothing");
        let new = &h.gates[&a];
        assert!(
            new.attached() && !new.open(TrackSource::Microphone) && new.open(TrackSource::Camera)
        );
        for _ in 0..100 {
            if seen.lock().unwrap().contains(&MediaEvent::Restarted) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(seen.lock().unwrap().contains(&MediaEvent::Restarted));
        h.close();
    }
}
