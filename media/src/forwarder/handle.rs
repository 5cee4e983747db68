//! The room's end of its forwarder: the [`MediaPort`] it calls, which
//! sets gates synchronously, sends everything else as a message, and
//! starts a forwarder that died again with everyone attached.

use std::collections::HashMap;
use std::sync::Arc;

use actix::Recipient;
use conclave_actors::media::{ClientSignal, FromMedia, MediaEvent, MediaPort, PhoneAudio};
use conclave_actors::{ConferenceId, ParticipantId, SessionId};
use tokio::sync::mpsc::{self, unbounded_channel, UnboundedSender};

use super::{Control, Forwarder, DATAGRAM_QUEUE};
use crate::gates::Gates;
use crate::plane::Shared;
use crate::speaker::SpeakerDetector;

/// The room's end: implements the port, and supervises the forwarder: one
/// that died (a panic) is started again on the next message, with every
/// participant attached as before, and the room is told so that clients
/// publish again.
pub struct ForwarderHandle {
    tx: UnboundedSender<Control>,
    gates: HashMap<ParticipantId, Arc<Gates>>,
    /// The callers among them, with their audio.
    phones: HashMap<ParticipantId, Arc<PhoneAudio>>,
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
            phones: HashMap::new(),
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
            let member = *id;
            let _ = self.tx.send(match self.phones.get(id) {
                Some(audio) => Control::AttachPhone {
                    member,
                    gates: fresh,
                    audio: audio.clone(),
                },
                None => Control::Attach {
                    member,
                    gates: fresh,
                },
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
        phones: None,
        recording: None,
        next_track: 0,
        touched: Vec::new(),
        out: Vec::new(),
        events_scratch: Vec::new(),
        messages_scratch: Vec::new(),
        layers: crate::quality::LayerTally::new(shared.counters.clone()),
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

    fn attach_phone(&mut self, id: ParticipantId, audio: Arc<PhoneAudio>) {
        // A caller shares no screen.
        let gates = Arc::new(Gates::new(false));
        if let Some(old) = self.gates.insert(id, gates.clone()) {
            old.detach();
        }
        self.phones.insert(id, audio.clone());
        self.send(Control::AttachPhone {
            member: id,
            gates,
            audio,
        });
    }

    fn detach(&mut self, id: ParticipantId) {
        self.phones.remove(&id);
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
        self.phones.clear();
        for (_, g) in self.gates.drain() {
            g.detach();
        }
        self.send(Control::Close);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MediaConfig, MediaPlane};
    use actix::prelude::*;
    use conclave_actors::media::TrackSource;
    use std::sync::Mutex;
    use std::time::Duration;

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
