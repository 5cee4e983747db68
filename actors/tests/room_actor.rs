//! The `Room` actor with real actix and bounded queues: fan-out, masking,
//! removal, slow consumers, recovery from a panic, and emptiness.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use conclave_actors::room::{
    Applied, Apply, Close, Connect, ConnectionLost, InjectPanic, Link, Room, RoomEmpty, RoomSink,
};
use conclave_actors::room_state::{
    Command, Durable, Endpoint, Event, Identity, LeaveReason, Millis, Newcomer, Reply, RoomError,
    RoomSettings,
};
use conclave_actors::view::{CloseReason, Outgoing, ToClient};
use conclave_actors::{AccountId, ConferenceId, MessageId, ParticipantId, Role, SessionId};
use tokio::sync::{mpsc, oneshot};

/// Everything a room hands its sink, in order; `backlogged` is settable.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Event>>,
    sessions: Mutex<Vec<(&'static str, SessionId)>>,
    backlogged: std::sync::atomic::AtomicBool,
}

impl RoomSink for Recorder {
    fn opened(&self, _: ConferenceId, session: SessionId, _: Millis) {
        self.sessions.lock().unwrap().push(("opened", session));
    }
    fn record(&self, _: ConferenceId, _: SessionId, event: &Event, _: Millis) -> u64 {
        let mut events = self.events.lock().unwrap();
        events.push(event.clone());
        events.len() as u64
    }
    fn closed(&self, _: ConferenceId, session: SessionId, _: Millis) {
        self.sessions.lock().unwrap().push(("closed", session));
    }
    fn backlogged(&self) -> bool {
        self.backlogged.load(std::sync::atomic::Ordering::SeqCst)
    }
}

struct Empties(Arc<Mutex<Vec<ConferenceId>>>);
impl Actor for Empties {
    type Context = Context<Self>;
}
impl Handler<RoomEmpty> for Empties {
    type Result = ();
    fn handle(&mut self, m: RoomEmpty, _: &mut Context<Self>) {
        self.0.lock().unwrap().push(m.conference);
    }
}

struct Client {
    id: ParticipantId,
    rx: mpsc::Receiver<Arc<Outgoing>>,
    close: oneshot::Receiver<CloseReason>,
}

impl Client {
    /// Everything queued so far (waits briefly for in-flight sends).
    async fn drain(&mut self) -> Vec<ToClient> {
        let mut out = Vec::new();
        while let Ok(Some(m)) =
            tokio::time::timeout(Duration::from_millis(50), self.rx.recv()).await
        {
            out.push(m.message.clone());
        }
        out
    }
}

fn web(name: &str, role: Role) -> Newcomer {
    Newcomer {
        id: ParticipantId::new(),
        name: name.into(),
        role,
        owner: false,
        endpoint: Endpoint::Web,
        identities: vec![
            Identity::Account(AccountId::new()),
            Identity::Device(format!("dev-{name}")),
        ],
        hold: false,
        origin: None,
    }
}

fn start(sink: Arc<Recorder>) -> Addr<Room> {
    Room::new(
        ConferenceId::new(),
        RoomSettings::default(),
        Durable::default(),
        sink,
        Arc::new(|| 1_900_000_000_000),
        None,
    )
    .start()
}

async fn connect(room: &Addr<Room>, n: Newcomer, capacity: usize) -> Client {
    let id = n.id;
    let (link, rx, close) = Link::new(capacity);
    room.send(Connect { newcomer: n, link })
        .await
        .unwrap()
        .expect("admitted");
    Client { id, rx, close }
}

#[actix_rt::test]
async fn events_fan_out_masked_per_recipient() {
    let sink = Arc::new(Recorder::default());
    let room = start(sink.clone());
    let mut chair = connect(&room, web("chair", Role::Moderator), 64).await;
    let mut guest = connect(&room, web("guest", Role::Participant), 64).await;
    let caller = Newcomer {
        endpoint: Endpoint::Phone {
            number: "+441234567123".into(),
            masked: "+44 •••• ••123".into(),
        },
        identities: vec![Identity::Phone("hash".into())],
        ..web("caller", Role::Participant)
    };
    let _caller = connect(&room, caller, 64).await;
    let chair_saw = format!("{:?}", chair.drain().await);
    let guest_saw = format!("{:?}", guest.drain().await);
    assert!(chair_saw.contains("+441234567123"), "{chair_saw}");
    assert!(guest_saw.contains("+44 •••• ••123"));
    assert!(
        !guest_saw.contains("+441234567123"),
        "a participant never receives a full number: {guest_saw}"
    );
    // Every event went to the sink.
    assert_eq!(
        sink.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e, Event::Joined(_)))
            .count(),
        3
    );
}

#[actix_rt::test]
async fn remove_closes_the_target_and_tells_the_others() {
    let room = start(Arc::new(Recorder::default()));
    let mut chair = connect(&room, web("chair", Role::Moderator), 64).await;
    let mut guest = connect(&room, web("guest", Role::Participant), 64).await;
    chair.drain().await;
    let out = room
        .send(Apply(Command::Remove {
            by: chair.id,
            target: guest.id,
            block: true,
        }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.reply, Reply::Ok);
    assert!(
        out.commit.is_some(),
        "a block is durable state: its ack waits for the commit"
    );
    assert!(guest
        .drain()
        .await
        .contains(&ToClient::Closed(CloseReason::Blocked)));
    assert_eq!(guest.close.await, Ok(CloseReason::Blocked));
    let seen = chair.drain().await;
    assert!(
        seen.contains(&ToClient::Left {
            id: guest.id,
            reason: LeaveReason::Blocked
        }),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|m| matches!(m, ToClient::Blocked(_))),
        "moderators see the block"
    );
    // The removed participant can no longer act.
    let chat = room
        .send(Apply(Command::Chat {
            by: guest.id,
            id: MessageId::new(),
            text: "hi".into(),
        }))
        .await
        .unwrap();
    assert_eq!(chat, Err(RoomError::NotInRoom));
}

#[actix_rt::test]
async fn a_slow_consumer_is_disconnected_and_the_others_carry_on() {
    let room = start(Arc::new(Recorder::default()));
    let mut chair = connect(&room, web("chair", Role::Moderator), 256).await;
    let slow = connect(&room, web("slow", Role::Participant), 4).await;
    for i in 0..50 {
        let r = room
            .send(Apply(Command::Chat {
                by: chair.id,
                id: MessageId::new(),
                text: format!("m{i}"),
            }))
            .await
            .unwrap();
        assert_eq!(r, Ok(Reply::Ok.into()));
    }
    assert_eq!(slow.close.await, Ok(CloseReason::SlowConsumer));
    let got = chair.drain().await;
    assert_eq!(
        got.iter()
            .filter(|m| matches!(m, ToClient::ChatPosted(_)))
            .count(),
        50,
        "the others got everything"
    );
    // The slow one's seat waits for a resume rather than vanishing.
    let r = room
        .send(Apply(Command::Chat {
            by: slow.id,
            id: MessageId::new(),
            text: "late".into(),
        }))
        .await
        .unwrap();
    assert_eq!(r, Ok(Reply::Ok.into()), "still seated during its grace");
}

#[actix_rt::test]
async fn a_panic_restarts_the_room_with_lock_blocks_and_permissions_and_resyncs() {
    let room = start(Arc::new(Recorder::default()));
    let mut chair = connect(&room, web("chair", Role::Moderator), 64).await;
    let mut guest = connect(&room, web("guest", Role::Participant), 64).await;
    let troll = web("troll", Role::Participant);
    let troll_device = troll.identities[1].clone();
    let troll = connect(&room, troll, 64).await;
    room.send(Apply(Command::Remove {
        by: chair.id,
        target: troll.id,
        block: true,
    }))
    .await
    .unwrap()
    .unwrap();
    room.send(Apply(Command::Lock { by: chair.id }))
        .await
        .unwrap()
        .unwrap();
    room.send(Apply(Command::SetPermission {
        by: chair.id,
        permission: conclave_actors::room_state::Permission::Chat,
        audience: conclave_actors::room_state::Audience::Moderators,
    }))
    .await
    .unwrap()
    .unwrap();
    chair.drain().await;
    guest.drain().await;

    room.send(InjectPanic)
        .await
        .expect("the room survives its panic");

    let resync = guest.drain().await;
    let Some(ToClient::Snapshot(s)) = resync.first() else {
        panic!("no resync: {resync:?}")
    };
    assert!(s.locked);
    assert_eq!(s.chat, conclave_actors::room_state::Audience::Moderators);
    assert_eq!(s.participants.len(), 2, "both seats kept");
    assert!(matches!(
        chair.drain().await.first(),
        Some(ToClient::Snapshot(_))
    ));
    // The block still bars the troll, even with a moderator PIN.
    let mut back = web("troll", Role::Moderator);
    back.identities = vec![troll_device];
    let (link, _rx, _close) = Link::new(8);
    assert_eq!(
        room.send(Connect {
            newcomer: back,
            link
        })
        .await
        .unwrap(),
        Err(RoomError::Blocked)
    );
    let blocks = room
        .send(Apply(Command::ListBlocks { by: chair.id }))
        .await
        .unwrap();
    assert!(matches!(blocks, Ok(Applied { reply: Reply::Blocks(b), .. }) if b.len() == 1));
    // The lock still refuses participants.
    let (link, _rx, _close) = Link::new(8);
    assert_eq!(
        room.send(Connect {
            newcomer: web("late", Role::Participant),
            link
        })
        .await
        .unwrap(),
        Err(RoomError::Locked)
    );
}

#[actix_rt::test]
async fn the_room_says_when_it_is_empty() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let empties = Empties(seen.clone()).start();
    let conference = ConferenceId::new();
    let room = Room::new(
        conference,
        RoomSettings {
            resume_grace_ms: 0,
            ..RoomSettings::default()
        },
        Durable::default(),
        Arc::new(Recorder::default()),
        Arc::new(|| 1_900_000_000_000),
        Some(empties.recipient()),
    )
    .start();
    let a = connect(&room, web("a", Role::Participant), 8).await;
    let b = connect(&room, web("b", Role::Participant), 8).await;
    room.send(Apply(Command::Leave { id: a.id }))
        .await
        .unwrap()
        .unwrap();
    assert!(seen.lock().unwrap().is_empty());
    room.send(ConnectionLost { id: b.id }).await.unwrap();
    // The grace is zero: the next tick drops the seat.
    room.send(Apply(Command::Tick)).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(*seen.lock().unwrap(), vec![conference]);
}

#[actix_rt::test]
async fn closing_ends_every_seat_then_the_session() {
    let sink = Arc::new(Recorder::default());
    let room = start(sink.clone());
    let mut chair = connect(&room, web("chair", Role::Moderator), 64).await;
    let away = connect(&room, web("away", Role::Participant), 64).await;
    // One seat waits for a resume: it is ended too.
    room.send(ConnectionLost { id: away.id }).await.unwrap();
    room.send(Close).await.unwrap();
    let left: Vec<(ParticipantId, LeaveReason)> = sink
        .events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::Left { id, reason } => Some((*id, *reason)),
            _ => None,
        })
        .collect();
    let mut expected = vec![
        (chair.id, LeaveReason::RoomClosed),
        (away.id, LeaveReason::RoomClosed),
    ];
    expected.sort();
    let mut left = left;
    left.sort();
    assert_eq!(left, expected);
    let sessions = sink.sessions.lock().unwrap().clone();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert_eq!((sessions[0].0, sessions[1].0), ("opened", "closed"));
    assert_eq!(
        sessions[0].1, sessions[1].1,
        "one session, opened and closed"
    );
    let last = chair.drain().await;
    assert!(matches!(
        last.last(),
        Some(ToClient::Closed(CloseReason::RoomClosed))
    ));
}

#[actix_rt::test]
async fn a_backlogged_sink_refuses_new_work_but_takes_departures() {
    let sink = Arc::new(Recorder::default());
    let room = start(sink.clone());
    let chair = connect(&room, web("chair", Role::Moderator), 64).await;
    let guest = connect(&room, web("guest", Role::Participant), 64).await;
    sink.backlogged
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let before = sink.events.lock().unwrap().len();
    let chat = room
        .send(Apply(Command::Chat {
            by: guest.id,
            id: MessageId::new(),
            text: "hello".into(),
        }))
        .await
        .unwrap();
    assert_eq!(chat, Err(RoomError::Backlogged));
    let lock = room
        .send(Apply(Command::Lock { by: chair.id }))
        .await
        .unwrap();
    assert_eq!(lock, Err(RoomError::Backlogged));
    let (link, _rx, _close) = Link::new(8);
    let join = room
        .send(Connect {
            newcomer: web("late", Role::Participant),
            link,
        })
        .await
        .unwrap();
    assert_eq!(join, Err(RoomError::Backlogged));
    assert_eq!(sink.events.lock().unwrap().len(), before, "nothing added");
    let leave = room
        .send(Apply(Command::Leave { id: guest.id }))
        .await
        .unwrap();
    assert_eq!(leave, Ok(Reply::Ok.into()), "a departure is always taken");
    sink.backlogged
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let lock = room
        .send(Apply(Command::Lock { by: chair.id }))
        .await
        .unwrap()
        .unwrap();
    assert!(
        lock.commit.is_some(),
        "a lock waits for its commit: {lock:?}"
    );
}

/// A media plane that records what the room asks of it, and lets a test
/// speak for it.
#[derive(Default)]
struct FakeMedia {
    calls: Arc<Mutex<Vec<(&'static str, ParticipantId)>>>,
    events: Arc<Mutex<Option<Recipient<conclave_actors::media::FromMedia>>>>,
}

struct FakePort(Arc<Mutex<Vec<(&'static str, ParticipantId)>>>);

impl conclave_actors::media::MediaPort for FakePort {
    fn attach(&mut self, id: ParticipantId, _: bool) {
        self.0.lock().unwrap().push(("attach", id));
    }
    fn detach(&mut self, id: ParticipantId) {
        self.0.lock().unwrap().push(("detach", id));
    }
    fn signal(&mut self, _: ParticipantId, _: conclave_actors::media::ClientSignal) {}
    fn attach_phone(&mut self, id: ParticipantId, _: Arc<conclave_actors::media::PhoneAudio>) {
        self.0.lock().unwrap().push(("attach_phone", id));
    }
    fn mute(&mut self, _: ParticipantId, _: bool) {}
    fn allow_screen(&mut self, _: ParticipantId, _: bool) {}
    fn record(&mut self, _: bool) {}
    fn close(&mut self) {}
}

impl conclave_actors::media::MediaFactory for FakeMedia {
    fn start(
        &self,
        _: ConferenceId,
        _: SessionId,
        events: Recipient<conclave_actors::media::FromMedia>,
    ) -> Box<dyn conclave_actors::media::MediaPort> {
        *self.events.lock().unwrap() = Some(events);
        Box::new(FakePort(self.calls.clone()))
    }
}

#[actix_rt::test]
async fn going_end_to_end_detaches_both_before_attaching_either_and_drops_the_servers_stale_offers()
{
    use conclave_actors::media::{FromMedia, MediaEvent, PcKind, ServerSignal};
    let media = Arc::new(FakeMedia::default());
    let room = Room::new(
        ConferenceId::new(),
        RoomSettings::default(),
        Durable::default(),
        Arc::new(Recorder::default()),
        Arc::new(|| 1_900_000_000_000),
        None,
    )
    .with_media(media.clone())
    .start();
    let mut a = connect(&room, web("a", Role::Moderator), 64).await;
    let b = connect(&room, web("b", Role::Participant), 64).await;
    let c = connect(&room, web("c", Role::Participant), 64).await;
    a.drain().await;
    let offer = |to| {
        FromMedia(MediaEvent::Signal {
            to,
            signal: ServerSignal::Offer {
                pc: PcKind::Subscribe,
                sdp: "v=0".into(),
            },
        })
    };
    let speak = media.events.lock().unwrap().clone().expect("media started");
    let offered = |seen: &[ToClient]| {
        seen.iter()
            .any(|m| matches!(m, ToClient::Signal { from: None, .. }))
    };
    speak.send(offer(a.id)).await.unwrap();
    assert!(offered(&a.drain().await), "three: the server's offers pass");

    media.calls.lock().unwrap().clear();
    room.send(Apply(Command::Leave { id: c.id }))
        .await
        .unwrap()
        .unwrap();
    let calls = media.calls.lock().unwrap().clone();
    let at = |what, who| calls.iter().position(|c| *c == (what, who)).unwrap();
    let last_detach = at("detach", a.id).max(at("detach", b.id));
    let first_attach = at("attach", a.id).min(at("attach", b.id));
    assert!(last_detach < first_attach, "{calls:?}");

    // An offer the departure made, arriving after the move: dropped.
    speak.send(offer(a.id)).await.unwrap();
    assert!(!offered(&a.drain().await), "two, end to end: none");

    let _d = connect(&room, web("d", Role::Participant), 64).await;
    speak.send(offer(a.id)).await.unwrap();
    assert!(offered(&a.drain().await), "three again: they pass");
}

#[actix_rt::test]
async fn a_newcomers_snapshot_names_the_current_speaker() {
    use conclave_actors::media::{FromMedia, MediaEvent};
    let media = Arc::new(FakeMedia::default());
    let room = Room::new(
        ConferenceId::new(),
        RoomSettings::default(),
        Durable::default(),
        Arc::new(Recorder::default()),
        Arc::new(|| 1_900_000_000_000),
        None,
    )
    .with_media(media.clone())
    .start();
    let a = connect(&room, web("a", Role::Moderator), 64).await;
    let _b = connect(&room, web("b", Role::Participant), 64).await;
    let speak = media.events.lock().unwrap().clone().expect("media started");
    speak
        .send(FromMedia(MediaEvent::ActiveSpeaker(Some(a.id))))
        .await
        .unwrap();
    let speaker = |seen: &[ToClient]| {
        seen.iter()
            .find_map(|m| match m {
                ToClient::Snapshot(s) => Some(s.active_speaker),
                _ => None,
            })
            .expect("a snapshot")
    };
    let mut c = connect(&room, web("c", Role::Participant), 64).await;
    assert_eq!(speaker(&c.drain().await), Some(a.id));

    // A speaker who left is nobody's current speaker.
    room.send(Apply(Command::Leave { id: a.id }))
        .await
        .unwrap()
        .unwrap();
    let mut d = connect(&room, web("d", Role::Participant), 64).await;
    assert_eq!(speaker(&d.drain().await), None);

    speak
        .send(FromMedia(MediaEvent::ActiveSpeaker(Some(c.id))))
        .await
        .unwrap();
    speak
        .send(FromMedia(MediaEvent::ActiveSpeaker(None)))
        .await
        .unwrap();
    let mut e = connect(&room, web("e", Role::Participant), 64).await;
    assert_eq!(speaker(&e.drain().await), None, "silence is nobody");
}

#[actix_rt::test]
async fn a_callers_audio_goes_to_media_once_seated_and_never_for_a_web_seat() {
    use conclave_actors::media::PhoneAudio;
    use conclave_actors::room::PhoneMedia;
    use conclave_actors::room_state::WaitingRoom;
    let media = Arc::new(FakeMedia::default());
    let room = Room::new(
        ConferenceId::new(),
        RoomSettings::default(),
        Durable::default(),
        Arc::new(Recorder::default()),
        Arc::new(|| 1_900_000_000_000),
        None,
    )
    .with_media(media.clone())
    .start();
    let chair = connect(&room, web("chair", Role::Moderator), 64).await;
    let phone = |name: &str| Newcomer {
        endpoint: Endpoint::Phone {
            number: "+441234567123".into(),
            masked: "+44•••••••123".into(),
        },
        identities: vec![Identity::Phone(format!("hash-{name}"))],
        ..web(name, Role::Participant)
    };
    let attached = |id| {
        media
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| **c == ("attach_phone", id))
            .count()
    };

    // Seated: attached at once.
    let caller = connect(&room, phone("first"), 64).await;
    room.send(PhoneMedia {
        id: caller.id,
        audio: PhoneAudio::new(),
    })
    .await
    .unwrap();
    assert_eq!(attached(caller.id), 1);
    // A web seat, or nobody: nothing.
    for id in [chair.id, ParticipantId::new()] {
        room.send(PhoneMedia {
            id,
            audio: PhoneAudio::new(),
        })
        .await
        .unwrap();
        assert_eq!(attached(id), 0);
    }

    // Waiting: attached only when admitted.
    room.send(Apply(Command::SetWaitingRoom {
        by: chair.id,
        setting: WaitingRoom::Everyone,
    }))
    .await
    .unwrap()
    .unwrap();
    let waiting = phone("second");
    let id = waiting.id;
    let (link, _rx, _close) = Link::new(64);
    room.send(Connect {
        newcomer: waiting,
        link,
    })
    .await
    .unwrap()
    .expect("waiting");
    room.send(PhoneMedia {
        id,
        audio: PhoneAudio::new(),
    })
    .await
    .unwrap();
    assert_eq!(attached(id), 0, "not while waiting");
    room.send(Apply(Command::Admit {
        by: chair.id,
        target: id,
    }))
    .await
    .unwrap()
    .unwrap();
    assert_eq!(attached(id), 1, "admitted");
}
