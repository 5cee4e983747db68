//! The media-forwarding actor: one per room, a task on the media runtime
//! that owns the room's peer connections and published tracks and handles
//! one [`Control`] message at a time. The room holds its
//! [`ForwarderHandle`] (the [`MediaPort`]): gates are set synchronously in
//! the handle, everything else is a message.
//!
//! Each participant has up to two server connections: `publish` (the
//! client offers its tracks, the server answers) and `subscribe` (the
//! server offers everyone else's tracks, the client answers). Separate
//! directions mean either side renegotiates without glare.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::Recipient;
use conclave_actors::media::{
    ClientSignal, FromMedia, MediaEvent, MediaPort, PcKind, ServerSignal, TrackSource,
};
use conclave_actors::{ConferenceId, ParticipantId, SessionId};
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{PeerConnection, RTCIceCandidateInit, RTCSessionDescription};
use webrtc::rtp_transceiver::RtpSender;

use crate::gates::Gates;
use crate::peer;
use crate::plane::Shared;
use crate::published::{self, Published, Subscription, TrackKey};
use crate::recording::Recording;
use crate::speaker::SpeakerDetector;

/// How often the active speaker is decided.
const SPEAKER_WINDOW: Duration = Duration::from_millis(300);

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
    /// From a connection: a candidate of the server's to trickle.
    LocalCandidate {
        member: ParticipantId,
        pc: PcKind,
        candidate: String,
    },
    /// From a connection: it came up, or failed, dropped or closed.
    Connected {
        member: ParticipantId,
        pc: PcKind,
        up: bool,
    },
    /// From a publish connection: a track arrived.
    Track {
        member: ParticipantId,
        track: Arc<dyn TrackRemote>,
    },
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
    let forwarder = Forwarder {
        shared: shared.clone(),
        conference,
        session,
        events: events.clone(),
        tx: tx.clone(),
        members: HashMap::new(),
        tracks: Vec::new(),
        speakers: Arc::new(Mutex::new(SpeakerDetector::default())),
        recording: None,
        next_track: 0,
    };
    shared.runtime.spawn(forwarder.run(rx));
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
    publish: Option<Arc<dyn PeerConnection>>,
    subscribe: Option<Arc<dyn PeerConnection>>,
    /// Declared track ids and what they are.
    sources: HashMap<String, TrackSource>,
    audio_level_id: Option<u8>,
    /// What the subscribe connection sends, per published track.
    senders: HashMap<TrackKey, Arc<dyn RtpSender>>,
    /// An offer is out and unanswered.
    offering: bool,
    /// Tracks changed while an offer was out: offer again after the answer.
    dirty: bool,
}

struct Forwarder {
    shared: Arc<Shared>,
    conference: ConferenceId,
    session: SessionId,
    events: Recipient<FromMedia>,
    tx: UnboundedSender<Control>,
    members: HashMap<ParticipantId, Member>,
    tracks: Vec<Arc<Published>>,
    speakers: Arc<Mutex<SpeakerDetector>>,
    recording: Option<Recording>,
    next_track: u64,
}

impl Forwarder {
    async fn run(mut self, mut rx: UnboundedReceiver<Control>) {
        let mut speaker_tick = tokio::time::interval(SPEAKER_WINDOW);
        loop {
            tokio::select! {
                msg = rx.recv() => {
                    let Some(msg) = msg else { break };
                    if matches!(msg, Control::Close) {
                        break;
                    }
                    self.handle(msg).await;
                }
                _ = speaker_tick.tick() => {
                    let change = self.speakers.lock().expect("speaker lock").tick();
                    if let Some(who) = change {
                        self.emit(MediaEvent::ActiveSpeaker(who));
                    }
                }
            }
        }
        self.shut_down().await;
    }

    fn emit(&self, event: MediaEvent) {
        self.events.do_send(FromMedia(event));
    }

    fn signal(&self, to: ParticipantId, signal: ServerSignal) {
        // Candidates inside an offer or answer are announced like trickled ones.
        let signal = match (self.shared.config.public_ip, signal) {
            (Some(ip), ServerSignal::Offer { pc, sdp }) => ServerSignal::Offer {
                pc,
                sdp: crate::sdp::announce_all(&sdp, ip),
            },
            (Some(ip), ServerSignal::Answer { pc, sdp }) => ServerSignal::Answer {
                pc,
                sdp: crate::sdp::announce_all(&sdp, ip),
            },
            (_, signal) => signal,
        };
        self.emit(MediaEvent::Signal { to, signal });
    }

    async fn handle(&mut self, msg: Control) {
        match msg {
            Control::Attach { member, gates } => self.attach(member, gates).await,
            Control::Detach { member } => self.detach(member).await,
            Control::Signal { member, signal } => {
                if let Err(e) = self.on_signal(member, signal).await {
                    tracing::warn!(conference = %self.conference, member = %member, error = %e, "media signalling failed");
                }
            }
            Control::Record(on) => self.record(on),
            Control::Close => {}
            Control::Panic => panic!("injected media forwarder failure"),
            Control::LocalCandidate {
                member,
                pc,
                candidate,
            } => {
                if self.members.contains_key(&member) {
                    self.signal(member, ServerSignal::Candidate { pc, candidate });
                }
            }
            Control::Connected { member, pc, up } => {
                tracing::debug!(conference = %self.conference, member = %member, pc = pc.as_str(), up, "media connection");
                if pc == PcKind::Subscribe && up && self.members.contains_key(&member) {
                    // A fresh receiver needs a keyframe to show video (of
                    // everyone's tracks but its own).
                    let tracks: Vec<_> = self
                        .tracks
                        .iter()
                        .filter(|t| t.key.publisher != member)
                        .cloned()
                        .collect();
                    for t in tracks {
                        t.request_keyframe().await;
                    }
                }
            }
            Control::Track { member, track } => self.on_track(member, track).await,
        }
    }

    async fn attach(&mut self, member: ParticipantId, gates: Arc<Gates>) {
        if self.members.contains_key(&member) {
            // Attached again (peer-to-peer and back): start clean.
            self.detach(member).await;
        }
        self.members.insert(
            member,
            Member {
                gates,
                publish: None,
                subscribe: None,
                sources: HashMap::new(),
                audio_level_id: None,
                senders: HashMap::new(),
                offering: false,
                dirty: false,
            },
        );
        let existing: Vec<_> = self
            .tracks
            .iter()
            .filter(|t| t.key.publisher != member)
            .cloned()
            .collect();
        if existing.is_empty() {
            return;
        }
        for track in existing {
            self.add_subscription(member, &track).await;
        }
        self.negotiate(member).await;
    }

    async fn detach(&mut self, member: ParticipantId) {
        let Some(gone) = self.members.remove(&member) else {
            return;
        };
        gone.gates.detach();
        for pc in [gone.publish, gone.subscribe].into_iter().flatten() {
            // Closing waits for the driver; nothing here needs to.
            self.shared.runtime.spawn(async move {
                let _ = pc.close().await;
            });
        }
        // Their tracks leave everyone's subscribe connection.
        let (theirs, others): (Vec<_>, Vec<_>) = self
            .tracks
            .drain(..)
            .partition(|t| t.key.publisher == member);
        self.tracks = others;
        let mut renegotiate = Vec::new();
        for track in &theirs {
            for (id, m) in self.members.iter_mut() {
                if let Some(sender) = m.senders.remove(&track.key) {
                    if let Some(pc) = &m.subscribe {
                        let _ = pc.remove_track(&sender).await;
                    }
                    renegotiate.push(*id);
                }
            }
        }
        for track in &self.tracks {
            track.unsubscribe(member);
        }
        if let Some(change) = self.speakers.lock().expect("speaker lock").forget(member) {
            self.emit(MediaEvent::ActiveSpeaker(change));
        }
        renegotiate.sort();
        renegotiate.dedup();
        for id in renegotiate {
            self.negotiate(id).await;
        }
    }

    async fn on_signal(
        &mut self,
        member: ParticipantId,
        signal: ClientSignal,
    ) -> Result<(), String> {
        let shared = self.shared.clone();
        let tx = self.tx.clone();
        let m = self
            .members
            .get_mut(&member)
            .ok_or("not attached to media")?;
        match signal {
            ClientSignal::Offer {
                pc: PcKind::Publish,
                sdp,
                tracks,
            } => {
                let pc = match &m.publish {
                    Some(pc) => pc.clone(),
                    None => {
                        let pc = peer::build(&shared, member, PcKind::Publish, tx, m.gates.clone())
                            .await
                            .map_err(|e| e.to_string())?;
                        m.publish = Some(pc.clone());
                        pc
                    }
                };
                m.sources.extend(tracks);
                if let Some(id) = crate::sdp::audio_level_id(&sdp) {
                    m.audio_level_id = Some(id);
                }
                let offer = RTCSessionDescription::offer(sdp).map_err(|e| e.to_string())?;
                pc.set_remote_description(offer)
                    .await
                    .map_err(|e| e.to_string())?;
                let answer = pc.create_answer(None).await.map_err(|e| e.to_string())?;
                let sdp = answer.sdp.clone();
                pc.set_local_description(answer)
                    .await
                    .map_err(|e| e.to_string())?;
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
                let pc = m.subscribe.clone().ok_or("no subscribe offer is out")?;
                if !m.offering {
                    return Err("no subscribe offer is out".into());
                }
                let answer = RTCSessionDescription::answer(sdp).map_err(|e| e.to_string())?;
                pc.set_remote_description(answer)
                    .await
                    .map_err(|e| e.to_string())?;
                m.offering = false;
                if std::mem::take(&mut m.dirty) {
                    self.negotiate(member).await;
                }
            }
            ClientSignal::Candidate { pc, candidate } => {
                let target = match pc {
                    PcKind::Publish => m.publish.clone(),
                    PcKind::Subscribe => m.subscribe.clone(),
                    PcKind::Peer => None,
                }
                .ok_or("no such connection yet")?;
                let init: RTCIceCandidateInit =
                    serde_json::from_str(&candidate).map_err(|e| e.to_string())?;
                target
                    .add_ice_candidate(init)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            _ => return Err("unexpected signal for the server".into()),
        }
        Ok(())
    }

    async fn on_track(&mut self, member: ParticipantId, remote: Arc<dyn TrackRemote>) {
        let Some(m) = self.members.get(&member) else {
            return;
        };
        let track_id = remote.track_id().await;
        let kind = remote.kind().await;
        let Some(source) = m.sources.get(&track_id).copied() else {
            tracing::info!(conference = %self.conference, member = %member, "undeclared track is not forwarded");
            return;
        };
        if source.is_audio() != (kind == RtpCodecKind::Audio) {
            tracing::info!(conference = %self.conference, member = %member, "track kind does not match its declared source");
            return;
        }
        let ssrc = remote.ssrcs().await.first().copied().unwrap_or_default();
        let key = TrackKey {
            publisher: member,
            track_id,
        };
        let published = Arc::new(Published::new(key, source, remote, ssrc, m.gates.clone()));
        if let Some(rec) = &mut self.recording {
            published.set_tap(Some(rec.tap(member, source)));
        }
        self.shared.runtime.spawn(published::forward(
            published.clone(),
            m.audio_level_id,
            self.speakers.clone(),
            self.shared.counters.clone(),
        ));
        self.tracks.push(published.clone());
        let others: Vec<_> = self
            .members
            .keys()
            .copied()
            .filter(|id| *id != member)
            .collect();
        for id in others {
            self.add_subscription(id, &published).await;
            self.negotiate(id).await;
        }
    }

    /// Adds `track` to `member`'s subscribe connection (made on first use).
    async fn add_subscription(&mut self, member: ParticipantId, track: &Arc<Published>) {
        let shared = self.shared.clone();
        let tx = self.tx.clone();
        self.next_track += 1;
        let n = self.next_track;
        let Some(m) = self.members.get_mut(&member) else {
            return;
        };
        let pc = match &m.subscribe {
            Some(pc) => pc.clone(),
            None => {
                match peer::build(&shared, member, PcKind::Subscribe, tx, m.gates.clone()).await {
                    Ok(pc) => {
                        m.subscribe = Some(pc.clone());
                        pc
                    }
                    Err(e) => {
                        tracing::warn!(member = %member, error = %e, "cannot open a subscribe connection");
                        return;
                    }
                }
            }
        };
        let (kind, payload_type) = if track.source.is_audio() {
            (RtpCodecKind::Audio, peer::OPUS_PT)
        } else {
            (RtpCodecKind::Video, peer::VP8_PT)
        };
        // Random, never 0: SSRCs only need to differ within a connection.
        let ssrc = (uuid::Uuid::new_v4().as_u128() as u32).max(1);
        // The stream is the publisher, so a client groups its tracks; the
        // track id says what it is.
        let local = peer::rtp_track(
            track.key.publisher.to_string(),
            format!("{}-{n}", track.source.as_str()),
            kind,
            ssrc,
        );
        let sender = match pc.add_track(local.clone() as Arc<dyn TrackLocal>).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(member = %member, error = %e, "cannot add a forwarded track");
                return;
            }
        };
        m.senders.insert(track.key.clone(), sender);
        track.subscribe(Subscription {
            member,
            gates: m.gates.clone(),
            track: local.clone(),
            ssrc,
            payload_type,
        });
        self.shared
            .runtime
            .spawn(published::relay_keyframe_requests(track.clone(), local));
        track.request_keyframe().await;
    }

    /// Offers `member` its current tracks, or marks it for after the
    /// answer to the offer that is out.
    async fn negotiate(&mut self, member: ParticipantId) {
        let Some(m) = self.members.get_mut(&member) else {
            return;
        };
        let Some(pc) = m.subscribe.clone() else {
            return;
        };
        if m.offering {
            m.dirty = true;
            return;
        }
        let offer = match pc.create_offer(None).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(member = %member, error = %e, "cannot make a subscribe offer");
                return;
            }
        };
        let sdp = offer.sdp.clone();
        if let Err(e) = pc.set_local_description(offer).await {
            tracing::warn!(member = %member, error = %e, "cannot set a subscribe offer");
            return;
        }
        m.offering = true;
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
            for t in &self.tracks {
                t.set_tap(None);
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
                for t in &self.tracks {
                    t.set_tap(Some(rec.tap(t.key.publisher, t.source)));
                }
                self.recording = Some(rec);
            }
            Err(e) => tracing::error!(error = %e, "cannot start a recording"),
        }
    }

    async fn shut_down(&mut self) {
        self.record(false);
        let members: Vec<_> = self.members.keys().copied().collect();
        for id in members {
            if let Some(m) = self.members.remove(&id) {
                m.gates.detach();
                for pc in [m.publish, m.subscribe].into_iter().flatten() {
                    let _ = pc.close().await;
                }
            }
        }
        tracing::debug!(conference = %self.conference, session = %self.session, "media forwarder stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MediaConfig, MediaPlane};
    use actix::prelude::*;

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
