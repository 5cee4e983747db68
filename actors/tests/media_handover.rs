//! The hand-over between peer to peer and the server, in the `Room` actor,
//! against a media plane that keeps the forwarder's negotiation rule: it
//! offers a member the others' tracks when attached and when a track
//! appears, and while one offer is out it offers nothing more until the
//! answer. Clients behave as the meeting page does. Every ordering of "the
//! first publisher's media is up or not" × second joins × third joins ×
//! one of them leaves (then a fourth joins) must end with everyone offered
//! everyone else's tracks.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use conclave_actors::media::{
    ClientSignal, FromMedia, MediaEvent, MediaFactory, MediaMode, MediaPort, PcKind, ServerSignal,
    TrackSource,
};
use conclave_actors::room::{
    Apply, Connect, ConnectionLost, Link, Reconnect, Room, RoomSink, Signal,
};
use conclave_actors::room_state::{
    Command, Durable, Endpoint, Event, Identity, Millis, Newcomer, RoomSettings,
};
use conclave_actors::view::{CloseReason, Outgoing, ToClient};
use conclave_actors::{AccountId, ConferenceId, ParticipantId, Role, SessionId};
use tokio::sync::{mpsc, oneshot};

struct NoSink;

impl RoomSink for NoSink {
    fn opened(&self, _: ConferenceId, _: SessionId, _: Millis) {}
    fn record(&self, _: ConferenceId, _: SessionId, _: &Event, _: Millis) -> u64 {
        0
    }
    fn closed(&self, _: ConferenceId, _: SessionId, _: Millis) {}
    fn backlogged(&self) -> bool {
        false
    }
}

#[derive(Default)]
struct Member {
    /// A publish offer reached the plane since this member was attached.
    publishing: bool,
    offering: bool,
    dirty: bool,
}

/// The plane's state, shared between the port the room holds and the test.
#[derive(Default)]
struct PlaneState {
    events: Option<Recipient<FromMedia>>,
    members: HashMap<ParticipantId, Member>,
    /// Publishers whose media reached the plane.
    tracks: BTreeSet<ParticipantId>,
}

impl PlaneState {
    fn negotiate(&mut self, id: ParticipantId) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        if m.offering {
            m.dirty = true;
            return;
        }
        m.offering = true;
        let sdp = self
            .tracks
            .iter()
            .filter(|t| **t != id)
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(",");
        if let Some(events) = &self.events {
            events.do_send(FromMedia(MediaEvent::Signal {
                to: id,
                signal: ServerSignal::Offer {
                    pc: PcKind::Subscribe,
                    sdp,
                },
            }));
        }
    }

    fn others(&self, id: ParticipantId) -> Vec<ParticipantId> {
        self.members.keys().copied().filter(|m| *m != id).collect()
    }

    /// The publisher's media reaches the plane (the forwarder's `on_track`).
    fn media_up(&mut self, id: ParticipantId) {
        if !self.members.get(&id).is_some_and(|m| m.publishing) || !self.tracks.insert(id) {
            return;
        }
        for other in self.others(id) {
            self.negotiate(other);
        }
    }
}

#[derive(Clone, Default)]
struct Plane(Arc<Mutex<PlaneState>>);

impl MediaPort for Plane {
    fn attach(&mut self, id: ParticipantId, _: bool) {
        self.detach(id);
        let mut s = self.0.lock().unwrap();
        s.members.insert(id, Member::default());
        if s.tracks.iter().any(|t| *t != id) {
            s.negotiate(id);
        }
    }
    fn detach(&mut self, id: ParticipantId) {
        let mut s = self.0.lock().unwrap();
        if s.members.remove(&id).is_none() {
            return;
        }
        if s.tracks.remove(&id) {
            for other in s.others(id) {
                s.negotiate(other);
            }
        }
    }
    fn attach_phone(&mut self, _: ParticipantId, _: Arc<conclave_actors::media::PhoneAudio>) {}
    fn signal(&mut self, id: ParticipantId, signal: ClientSignal) {
        let mut s = self.0.lock().unwrap();
        let Some(m) = s.members.get_mut(&id) else {
            return;
        };
        match signal {
            ClientSignal::Offer {
                pc: PcKind::Publish,
                ..
            } => m.publishing = true,
            ClientSignal::Answer {
                pc: PcKind::Subscribe,
                ..
            } if m.offering => {
                m.offering = false;
                if std::mem::take(&mut m.dirty) {
                    s.negotiate(id);
                }
            }
            _ => {}
        }
    }
    fn mute(&mut self, _: ParticipantId, _: bool) {}
    fn allow_screen(&mut self, _: ParticipantId, _: bool) {}
    fn record(&mut self, _: bool) {}
    fn close(&mut self) {}
}

impl MediaFactory for Plane {
    fn start(
        &self,
        _: ConferenceId,
        _: SessionId,
        events: Recipient<FromMedia>,
    ) -> Box<dyn MediaPort> {
        self.0.lock().unwrap().events = Some(events);
        Box::new(self.clone())
    }
}

/// A client that does what the meeting page does with the server's media
/// signalling.
struct Client {
    id: ParticipantId,
    identities: Vec<Identity>,
    rx: mpsc::Receiver<Arc<Outgoing>>,
    _close: oneshot::Receiver<CloseReason>,
    mode: MediaMode,
    /// Publishing to the server since the last change to `sfu`.
    publishing: bool,
    /// The publishers in the last subscribe offer it answered.
    offered: BTreeSet<String>,
}

impl Client {
    async fn join(room: &Addr<Room>, name: &str) -> Self {
        let newcomer = Newcomer {
            id: ParticipantId::new(),
            name: name.into(),
            role: Role::Participant,
            owner: false,
            endpoint: Endpoint::Web,
            identities: vec![Identity::Account(AccountId::new())],
            hold: false,
            origin: None,
        };
        let id = newcomer.id;
        let identities = newcomer.identities.clone();
        let (link, rx, close) = Link::new(256);
        room.send(Connect { newcomer, link })
            .await
            .unwrap()
            .expect("admitted");
        Self {
            id,
            identities,
            rx,
            _close: close,
            mode: MediaMode::Forwarded,
            publishing: false,
            offered: BTreeSet::new(),
        }
    }

    /// Handles what arrived; true when it sent anything.
    async fn step(&mut self, room: &Addr<Room>) -> bool {
        let mut acted = false;
        while let Ok(m) = self.rx.try_recv() {
            let mode = match &m.message {
                ToClient::Snapshot(s) => Some(s.media.mode),
                ToClient::Media(s) => Some(s.mode),
                _ => None,
            };
            if let Some(mode) = mode {
                if mode != self.mode || !self.publishing {
                    self.mode = mode;
                    // To the server: publish. End to end: the server's
                    // connections are closed.
                    self.publishing = false;
                    if mode == MediaMode::Forwarded {
                        self.publishing = true;
                        acted = true;
                        let _ = room
                            .send(Signal {
                                by: self.id,
                                signal: ClientSignal::Offer {
                                    pc: PcKind::Publish,
                                    sdp: "v=0".into(),
                                    tracks: vec![("mic".into(), TrackSource::Microphone)],
                                },
                            })
                            .await
                            .unwrap();
                    }
                }
            }
            if let ToClient::Signal {
                from: None,
                signal:
                    ServerSignal::Offer {
                        pc: PcKind::Subscribe,
                        sdp,
                    },
            } = &m.message
            {
                // The page ignores the server's offers end to end.
                if self.mode == MediaMode::PeerToPeer {
                    continue;
                }
                self.offered = sdp
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                acted = true;
                let _ = room
                    .send(Signal {
                        by: self.id,
                        signal: ClientSignal::Answer {
                            pc: PcKind::Subscribe,
                            sdp: "v=0".into(),
                        },
                    })
                    .await
                    .unwrap();
            }
        }
        acted
    }
}

struct Meeting {
    room: Addr<Room>,
    plane: Plane,
    clients: Vec<Client>,
}

impl Meeting {
    fn new() -> Self {
        let plane = Plane::default();
        let room = Room::new(
            ConferenceId::new(),
            RoomSettings::default(),
            Durable::default(),
            Arc::new(NoSink),
            Arc::new(|| 1_900_000_000_000),
            None,
        )
        .with_media(Arc::new(plane.clone()))
        .start();
        Self {
            room,
            plane,
            clients: Vec::new(),
        }
    }

    /// Lets every client answer what reached it until nobody has more to say.
    async fn settle(&mut self) {
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let mut acted = false;
            for c in &mut self.clients {
                acted |= c.step(&self.room).await;
            }
            if !acted {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if self.clients.iter().all(|c| c.rx.is_empty()) {
                    return;
                }
            }
        }
        panic!("the signalling never settled");
    }

    async fn join(&mut self, name: &str) {
        let c = Client::join(&self.room, name).await;
        self.clients.push(c);
    }

    /// Every publisher's media reaches the plane (where it publishes).
    async fn media_up(&mut self) {
        for c in &self.clients {
            self.plane.0.lock().unwrap().media_up(c.id);
        }
        self.settle().await;
    }

    async fn leave(&mut self, i: usize) {
        let c = self.clients.remove(i);
        self.room
            .send(Apply(Command::Leave { id: c.id }))
            .await
            .unwrap()
            .unwrap();
        self.settle().await;
    }

    /// Client `i`'s connection drops and it takes its seat back on a new
    /// one, then does what the page does: closes its server connections
    /// and publishes again.
    async fn drop_and_resume(&mut self, i: usize) {
        let c = &mut self.clients[i];
        self.room.send(ConnectionLost { id: c.id }).await.unwrap();
        let (link, rx, close) = Link::new(256);
        self.room
            .send(Reconnect {
                id: c.id,
                identities: c.identities.clone(),
                link,
            })
            .await
            .unwrap()
            .expect("resumed");
        c.rx = rx;
        c._close = close;
        c.publishing = false;
        c.offered.clear();
        self.settle().await;
    }

    /// Through the server, everyone was offered everyone else.
    fn assert_everyone_receives_everyone(&self, case: &str) {
        for c in &self.clients {
            assert_eq!(c.mode, MediaMode::Forwarded, "{case}");
            let want: BTreeSet<String> = self
                .clients
                .iter()
                .filter(|o| o.id != c.id)
                .map(|o| o.id.to_string())
                .collect();
            assert_eq!(
                c.offered,
                want,
                "{case}: client {} was offered the wrong tracks",
                self.clients.iter().position(|o| o.id == c.id).unwrap()
            );
        }
    }

    fn assert_end_to_end(&self, case: &str) {
        assert_eq!(self.clients.len(), 2);
        for c in &self.clients {
            assert_eq!(c.mode, MediaMode::PeerToPeer, "{case}");
        }
    }
}

async fn hand_over(first_media_up: bool, leaver: usize) {
    let case = format!("first media up: {first_media_up}, leaver: {leaver}");
    let mut m = Meeting::new();
    m.join("ada").await;
    m.settle().await;
    if first_media_up {
        m.media_up().await;
    }
    m.join("bob").await;
    m.settle().await;
    m.assert_end_to_end(&case);
    m.join("cyd").await;
    m.settle().await;
    m.media_up().await;
    m.assert_everyone_receives_everyone(&format!("{case}, three"));
    m.leave(leaver).await;
    m.assert_end_to_end(&format!("{case}, two again"));
    m.join("dan").await;
    m.settle().await;
    m.media_up().await;
    m.assert_everyone_receives_everyone(&format!("{case}, a fourth"));
}

#[actix_rt::test]
async fn hand_over_with_the_first_media_up_and_the_first_leaving() {
    hand_over(true, 0).await;
}

#[actix_rt::test]
async fn hand_over_with_the_first_media_up_and_the_second_leaving() {
    hand_over(true, 1).await;
}

#[actix_rt::test]
async fn hand_over_with_the_first_media_up_and_the_third_leaving() {
    hand_over(true, 2).await;
}

#[actix_rt::test]
async fn hand_over_before_the_first_media_is_up_and_the_first_leaving() {
    hand_over(false, 0).await;
}

#[actix_rt::test]
async fn hand_over_before_the_first_media_is_up_and_the_second_leaving() {
    hand_over(false, 1).await;
}

#[actix_rt::test]
async fn hand_over_before_the_first_media_is_up_and_the_third_leaving() {
    hand_over(false, 2).await;
}

/// A resumed page starts its server connections afresh; the plane must too,
/// or it never offers the resumed page anything (nothing changed for it).
#[actix_rt::test]
async fn a_resumed_page_is_offered_everyone_again() {
    let mut m = Meeting::new();
    for name in ["ada", "bob", "cyd"] {
        m.join(name).await;
        m.settle().await;
    }
    m.media_up().await;
    m.assert_everyone_receives_everyone("three");
    m.drop_and_resume(1).await;
    m.media_up().await;
    m.assert_everyone_receives_everyone("after bob resumed");
}
