//! Who is in the room's media and what they send: attaching and detaching
//! members, their connections, the signalling of both, and which
//! subscribe connection carries which track.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use conclave_actors::media::{ClientSignal, MediaEvent, PcKind, ServerSignal, TrackSource};
use conclave_actors::ParticipantId;
use rtc::peer_connection::event::RTCTrackEventInit;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::RTCIceCandidateInit;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::sansio::Protocol;

use super::{Conn, Forwarder, Link, Member, Subscribe};
use crate::gates::Gates;
use crate::history::ResendBudget;
use crate::leg::{self, Leg, Sending};
use crate::peer;
use crate::published::{ConnId, Published, Subscription, TrackKey};
use crate::watch::Watch;

/// Simulcast layers taken per track, as browsers send (RFC 8853 allows
/// more; they would only cost).
const MAX_LAYERS: usize = 3;

impl Forwarder {
    pub(super) fn attach(&mut self, member: ParticipantId, gates: Arc<Gates>) {
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
                hidden: Default::default(),
                heights: Default::default(),
                backoff: Default::default(),
                recovering: false,
            },
        );
        self.subscribe_to_others(member);
    }

    /// Subscribes `member` to everyone else's tracks and offers them.
    pub(super) fn subscribe_to_others(&mut self, member: ParticipantId) {
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
            let mut leg = Leg::new(certificate, ufrag.clone(), pwd, Instant::now())
                .map_err(|e| e.to_string())?;
            let estimating = self.shared.config.adapt_to_bandwidth;
            if estimating {
                leg.enable_twcc();
            }
            let sub = Subscribe {
                bwe: estimating.then(Default::default),
                leg,
                sections: Vec::new(),
                by_ssrc: HashMap::new(),
                resends: ResendBudget::default(),
                has_sent: false,
                estimate: None,
                probe: Default::default(),
                reception: Default::default(),
            };
            (Link::Subscribe(Box::new(sub)), ufrag)
        } else {
            let (pc, ufrag) =
                crate::conn::build(self.shared.socket.candidates(), &self.shared.certificate)
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
    pub(super) fn close_conn(&mut self, id: ConnId) {
        let Some(mut c) = self.conns.remove(&id) else {
            return;
        };
        c.gates.set_receiving(false);
        match &mut c.link {
            Link::Publish(pc) => {
                let _ = pc.close();
                while let Some(w) = pc.poll_write() {
                    self.out.push((super::written_to(&w.transport), w.message));
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

    pub(super) fn detach(&mut self, member: ParticipantId) {
        let was_caller = self.forget_phone(member);
        if let Some(gone) = self.members.remove(&member) {
            gone.gates.detach();
            for id in [gone.publish, gone.subscribe].into_iter().flatten() {
                self.close_conn(id);
            }
        } else if !was_caller {
            return;
        }
        self.withdraw(member);
    }

    /// `member`'s tracks leave everyone's subscribe connection, and
    /// `member` leaves every track's subscribers.
    pub(super) fn withdraw(&mut self, member: ParticipantId) {
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
                s.reception.forget(sub.ssrc);
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

    pub(super) fn on_signal(
        &mut self,
        member: ParticipantId,
        signal: ClientSignal,
    ) -> Result<(), String> {
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
                if !s.leg.twcc() {
                    // Turned down: its client's REMB is the estimate.
                    s.bwe = None;
                }
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
            ClientSignal::Watch {
                publisher,
                source,
                visible,
                height,
            } => self.watch(member, publisher, source, visible, height),
            _ => return Err("unexpected signal for the server".into()),
        }
        Ok(())
    }

    pub(super) fn on_track(&mut self, id: ConnId, init: RTCTrackEventInit) {
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
        if let Some(i) = self.tracks.iter().position(|t| t.key == key) {
            // Another simulcast layer of a track already forwarded.
            let track = &mut self.tracks[i];
            let known = track.layers.iter().any(|l| l.media_ssrc == init.ssrc);
            if init.rid.is_none() || known || track.layers.len() >= MAX_LAYERS {
                return;
            }
            track.add_layer(init.rid, init.ssrc);
            self.retarget(i);
            return;
        }
        let published = Published::new(
            key,
            source,
            id,
            init.receiver_id,
            init.ssrc,
            init.rid,
            m.gates.clone(),
            m.audio_level_id,
        );
        self.publish(published);
    }

    /// A new track: recorded if the room records, and offered to every
    /// web member but its publisher.
    pub(super) fn publish(&mut self, mut published: Published) {
        let member = published.key.publisher;
        if let Some(rec) = &mut self.recording {
            published.tap = Some(rec.tap(member, published.source));
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

    /// `member` shows or hides `publisher`'s `source` video: its copies
    /// stop, or start again at a keyframe asked for now.
    fn watch(
        &mut self,
        member: ParticipantId,
        publisher: ParticipantId,
        source: TrackSource,
        visible: bool,
        height: Option<u32>,
    ) {
        let Some(m) = self.members.get_mut(&member) else {
            return;
        };
        if visible {
            m.hidden.remove(&(publisher, source));
        } else {
            m.hidden.insert((publisher, source));
        }
        match height {
            Some(h) => m.heights.insert((publisher, source), h),
            None => m.heights.remove(&(publisher, source)),
        };
        let mut keyframes = Vec::new();
        let mut resized = Vec::new();
        for (i, t) in self.tracks.iter_mut().enumerate() {
            if t.key.publisher != publisher || t.source != source || source.is_audio() {
                continue;
            }
            if let Some(s) = t.subscribers.iter_mut().find(|s| s.member == member) {
                if s.want_height != height {
                    s.want_height = height;
                    resized.push(i);
                }
                if s.watch.set_visible(visible) {
                    keyframes.extend(s.watch.awaiting_keyframe().map(|l| (i, l)));
                }
            }
        }
        for (i, l) in keyframes {
            self.request_keyframe(i, l);
        }
        for i in resized {
            self.retarget(i);
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
        let seen = (track.key.publisher, track.source);
        let hidden = !audio
            && self
                .members
                .get(&member)
                .is_some_and(|m| m.hidden.contains(&seen));
        let want_height = self
            .members
            .get(&member)
            .and_then(|m| m.heights.get(&seen).copied());
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
            watch: Watch::new(hidden),
            want_height,
            allowed: None,
        });
        self.retarget(i);
        self.request_keyframes(i);
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
        let sdp = s.leg.offer(self.shared.socket.candidates(), &s.sections);
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
}
