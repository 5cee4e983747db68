//! The `Room` actor: one per live conference. It owns the room's
//! [`RoomState`], applies every command through it, and carries out the
//! events: hands each to the persistence sink (fire and forget), and fans it
//! out, masked per recipient, into each participant's bounded outbound
//! queue with a non-blocking send. A participant whose queue is full is
//! disconnected as a slow consumer; the room never waits for anyone.
//!
//! A panic while applying a command is caught: the room rebuilds its state
//! from the lock, permissions and blocks plus the seats it last knew, and
//! sends every participant a fresh snapshot.
//!
//! Talks to: participant connections (through [`Link`]s), the [`RoomSink`],
//! and the registry (told when the room is empty).

mod door;
mod media;
mod relay;

pub use door::Entered;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::{mpsc, oneshot};

use crate::ids::{ConferenceId, ParticipantId, SessionId};
use crate::media::{no_media, ClientSignal, MediaFactory, MediaPort, NoMedia};
use crate::role::Role;
use crate::room_state::{
    Command, Durable, Event, Identity, LeaveReason, Millis, Newcomer, Reply, RoomError,
    RoomSettings, RoomState, Seat,
};
use crate::view::{for_viewer, CloseReason, Outgoing, Snapshot, ToClient};

/// Seats a connection: join, then receive a snapshot and every event; or
/// waits for a moderator, then receives `Admitted`, the snapshot and every
/// event (or `Closed(Denied)`).
#[derive(Message)]
#[rtype(result = "Result<Entered, RoomError>")]
pub struct Connect {
    pub newcomer: Newcomer,
    pub link: Link,
}

/// Takes a seat back within its grace, on a new connection; answers the
/// seat's role as it is now.
#[derive(Message)]
#[rtype(result = "Result<Role, RoomError>")]
pub struct Reconnect {
    pub id: ParticipantId,
    pub identities: Vec<Identity>,
    pub link: Link,
}

/// Any other command; the sender is named inside it.
#[derive(Message)]
#[rtype(result = "Result<Applied, RoomError>")]
pub struct Apply(pub Command);

/// What an applied command answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub reply: Reply,
    /// When the command changed durable state (lock, permissions, blocks):
    /// the sink's sequence number to wait for before calling it committed.
    pub commit: Option<u64>,
}

impl From<Reply> for Applied {
    fn from(reply: Reply) -> Self {
        Self {
            reply,
            commit: None,
        }
    }
}

/// A participant's media signalling; answered once the room routed it (to
/// the media plane, or to the peer in peer-to-peer mode).
#[derive(Message)]
#[rtype(result = "Result<(), RoomError>")]
pub struct Signal {
    pub by: ParticipantId,
    pub signal: ClientSignal,
}

/// Server shutdown: every seat leaves with `room_closed`, then the room stops.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Close;

/// A phone caller's audio (the SIP edge), for its seat: published and fed
/// the room's audio once the caller is seated (at once, or when admitted
/// from the waiting room). The gateway WebSocket carries no audio.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PhoneMedia {
    pub id: ParticipantId,
    pub audio: Arc<crate::media::PhoneAudio>,
}

/// The participant's connection ended without a goodbye.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ConnectionLost {
    pub id: ParticipantId,
}

/// Test hook: a panic inside the guarded apply path, to prove recovery.
#[doc(hidden)]
#[derive(Message)]
#[rtype(result = "()")]
pub struct InjectPanic;

/// The room has nobody left and is stopping; sent to whoever started it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RoomEmpty {
    pub conference: ConferenceId,
    /// Which room: a newer one may already serve the same conference.
    pub room: Addr<Room>,
}

/// Where a room's events go to be persisted. Implementations must not
/// block: the room calls these inline, for every event.
pub trait RoomSink: Send + Sync + 'static {
    /// A live session of the conference began (its room started).
    fn opened(&self, conference: ConferenceId, session: SessionId, at: Millis);
    /// Hands one event over; answers its place in the sink's write order.
    fn record(
        &self,
        conference: ConferenceId,
        session: SessionId,
        event: &Event,
        at: Millis,
    ) -> u64;
    /// The session ended (its room stopped).
    fn closed(&self, conference: ConferenceId, session: SessionId, at: Millis);
    /// A recording of the session is written and can be downloaded.
    fn recording_ready(
        &self,
        _conference: ConferenceId,
        _session: SessionId,
        _recording: &crate::media::RecordingDone,
        _at: Millis,
    ) {
    }
    /// So much waits to be written that the room should take no new work
    /// that adds more (departures are always taken).
    fn backlogged(&self) -> bool {
        false
    }
}

/// The time source, injected so tests control it.
pub type Clock = Arc<dyn Fn() -> Millis + Send + Sync>;

/// One participant connection's end of the room: a bounded queue of
/// messages, and a one-shot that tells the connection why it is closed.
pub struct Link {
    /// Messages are shared: one per role per event, not one per recipient.
    pub queue: mpsc::Sender<Arc<Outgoing>>,
    pub close: oneshot::Sender<CloseReason>,
}

impl Link {
    /// A link with `capacity` queued messages, and the connection's ends.
    pub fn new(
        capacity: usize,
    ) -> (
        Self,
        mpsc::Receiver<Arc<Outgoing>>,
        oneshot::Receiver<CloseReason>,
    ) {
        let (queue, rx) = mpsc::channel(capacity);
        let (close, close_rx) = oneshot::channel();
        (Self { queue, close }, rx, close_rx)
    }
}

struct Connection {
    link: Link,
    role: Role,
}

pub struct Room {
    conference: ConferenceId,
    session: SessionId,
    state: RoomState,
    /// The seats as of the last command, for recovery after a panic.
    last_seats: Vec<Seat>,
    connections: HashMap<ParticipantId, Connection>,
    /// The links of those in the waiting room.
    waiters: HashMap<ParticipantId, Link>,
    sink: Arc<dyn RoomSink>,
    clock: Clock,
    on_empty: Option<Recipient<RoomEmpty>>,
    stopping: bool,
    /// The session's end is recorded.
    ended: bool,
    media_factory: Arc<dyn MediaFactory>,
    /// Started with the room; closed with it.
    media: Box<dyn MediaPort>,
    /// The room's media mode as last announced (snapshots carry it to
    /// whoever attaches later).
    media_mode: (
        crate::media::MediaMode,
        Option<(ParticipantId, ParticipantId)>,
    ),
    /// The active speaker as last relayed (snapshots carry it).
    active_speaker: Option<ParticipantId>,
    /// Phone callers' audio, from [`PhoneMedia`] until they leave.
    phone_audio: HashMap<ParticipantId, Arc<crate::media::PhoneAudio>>,
}

impl Room {
    pub fn new(
        conference: ConferenceId,
        settings: RoomSettings,
        durable: Durable,
        sink: Arc<dyn RoomSink>,
        clock: Clock,
        on_empty: Option<Recipient<RoomEmpty>>,
    ) -> Self {
        Self {
            conference,
            session: SessionId::new(),
            state: RoomState::restore(settings, durable),
            last_seats: Vec::new(),
            connections: HashMap::new(),
            waiters: HashMap::new(),
            sink,
            clock,
            on_empty,
            stopping: false,
            ended: false,
            media_factory: no_media(),
            media: Box::new(NoMedia),
            media_mode: (crate::media::MediaMode::Forwarded, None),
            active_speaker: None,
            phone_audio: HashMap::new(),
        }
    }

    /// The room starts its media plane from `factory`.
    pub fn with_media(mut self, factory: Arc<dyn MediaFactory>) -> Self {
        self.media_factory = factory;
        self
    }

    /// Applies `command`, surviving a panic inside the state machine.
    fn guarded(&mut self, command: Command, inject_panic: bool) -> Result<Applied, RoomError> {
        let now = (self.clock)();
        if self.sink.backlogged() && adds_work(&command) {
            return Err(RoomError::Backlogged);
        }
        // A disconnect changes a seat without an event anyone is told of.
        let disconnect = matches!(command, Command::Disconnect { .. });
        let state = &mut self.state;
        let result = catch_unwind(AssertUnwindSafe(|| {
            if inject_panic {
                panic!("injected panic");
            }
            state.apply(command, now)
        }));
        match result {
            Ok(outcome) => {
                // Only seat changes refresh the recovery copy: chat and the
                // like must not cost O(seats) in a big room.
                let seats_changed = disconnect
                    || outcome.events.iter().any(|e| {
                        matches!(
                            e,
                            Event::Joined(_)
                                | Event::Left { .. }
                                | Event::RoleChanged { .. }
                                | Event::Muted { .. }
                                | Event::CallerNamed { .. }
                        )
                    });
                if seats_changed {
                    self.last_seats = self.state.seats().into_iter().cloned().collect();
                }
                let commit = self.carry_out(outcome.events, now);
                outcome.reply.map(|reply| Applied { reply, commit })
            }
            Err(_) => {
                self.recover();
                Err(RoomError::Internal)
            }
        }
    }

    /// Rebuilds the state from what must never be lost, and resyncs everyone.
    fn recover(&mut self) {
        tracing::error!(conference = %self.conference, "room panicked; restarting it from its durable state");
        self.state = RoomState::recover_from(&mut self.state, self.last_seats.clone());
        self.close_waiters();
        let ids: Vec<_> = self.connections.keys().copied().collect();
        for id in ids {
            self.send_snapshot(id);
        }
    }

    /// Answers the sequence number of the last durable-state event, if any.
    fn carry_out(&mut self, events: Vec<Event>, now: Millis) -> Option<u64> {
        let mut commit = None;
        let mut admitted = Vec::new();
        for event in &events {
            admitted.extend(self.wait_ended(event));
            let seq = self.sink.record(self.conference, self.session, event, now);
            if event.is_durable_state() {
                commit = Some(seq);
            }
            match event {
                Event::Left { id, reason } => {
                    let close = match reason {
                        LeaveReason::Removed => Some(CloseReason::Removed),
                        LeaveReason::Blocked => Some(CloseReason::Blocked),
                        _ => None,
                    };
                    if let Some(conn) = self.connections.remove(id) {
                        if let Some(reason) = close {
                            let _ = conn
                                .link
                                .queue
                                .try_send(Arc::new(Outgoing::new(ToClient::Closed(reason))));
                            let _ = conn.link.close.send(reason);
                        }
                    }
                }
                Event::RoleChanged { target, role, .. } => {
                    if let Some(conn) = self.connections.get_mut(target) {
                        conn.role = *role;
                    }
                }
                _ => {}
            }
            self.tell_media(event);
            self.fan_out(event);
            if let Event::RoleChanged { target, .. } = event {
                // What they may see changed (full phone numbers): start them afresh.
                self.send_snapshot(*target);
            }
        }
        for (id, link) in admitted {
            self.attach(id, link);
        }
        if !events.is_empty() {
            self.announce_media_mode();
        }
        commit
    }

    /// One message for one participant.
    fn send_to(&mut self, id: ParticipantId, message: ToClient) {
        let Some(conn) = self.connections.get(&id) else {
            return;
        };
        if let Err(mpsc::error::TrySendError::Full(_)) =
            conn.link.queue.try_send(Arc::new(Outgoing::new(message)))
        {
            self.drop_slow(id);
        }
    }

    /// An empty room stops itself (and says so), after every handler, so
    /// a room whose only joiner was refused does not linger either. Seats
    /// waiting for a resume keep it open.
    fn stop_if_empty(&mut self, ctx: &mut Context<Self>) {
        if self.state.is_empty() && !self.stopping {
            self.stopping = true;
            if let Some(r) = &self.on_empty {
                r.do_send(RoomEmpty {
                    conference: self.conference,
                    room: ctx.address(),
                });
            }
            ctx.stop();
        }
    }

    fn fan_out(&mut self, event: &Event) {
        // Built once per role: in a big room the fan-out is the hot path.
        let shared = |m| Arc::new(Outgoing::new(m));
        let for_moderators = for_viewer(event, Role::Moderator).map(shared);
        let for_participants = for_viewer(event, Role::Participant).map(shared);
        self.deliver(|role| match role {
            Role::Moderator => for_moderators.clone(),
            Role::Participant => for_participants.clone(),
        });
    }

    /// Hands each connection the message for its role, never waiting; a
    /// connection whose queue is full is dropped as a slow consumer.
    fn deliver(&mut self, message_for: impl Fn(Role) -> Option<Arc<Outgoing>>) {
        let mut slow = Vec::new();
        for (id, conn) in &self.connections {
            if let Some(message) = message_for(conn.role) {
                if let Err(mpsc::error::TrySendError::Full(_)) = conn.link.queue.try_send(message) {
                    slow.push(*id);
                }
            }
        }
        for id in slow {
            self.drop_slow(id);
        }
    }

    fn send_snapshot(&mut self, id: ParticipantId) {
        let Some(conn) = self.connections.get(&id) else {
            return;
        };
        let snapshot =
            Snapshot::of(&self.state, id, conn.role).with_active_speaker(self.active_speaker);
        if let Err(mpsc::error::TrySendError::Full(_)) =
            conn.link
                .queue
                .try_send(Arc::new(Outgoing::new(ToClient::Snapshot(Box::new(
                    snapshot,
                )))))
        {
            self.drop_slow(id);
        }
    }

    /// Closes a connection that cannot keep up. Its seat waits for a resume,
    /// as after any dropped connection, so the client can come back and resync.
    fn drop_slow(&mut self, id: ParticipantId) {
        if let Some(conn) = self.connections.remove(&id) {
            tracing::warn!(conference = %self.conference, participant = %id, "slow consumer disconnected");
            let _ = conn.link.close.send(CloseReason::SlowConsumer);
            let now = (self.clock)();
            let outcome = self.state.apply(Command::Disconnect { id }, now);
            let _ = self.carry_out(outcome.events, now);
        }
    }

    /// Ends the seats still held (server shutdown) and then the session,
    /// once, before the room stops.
    fn end_session(&mut self) {
        if self.ended {
            return;
        }
        self.ended = true;
        let now = (self.clock)();
        let outcome = self.state.apply(Command::Close, now);
        for event in &outcome.events {
            self.sink.record(self.conference, self.session, event, now);
        }
        self.sink.closed(self.conference, self.session, now);
    }

    fn attach(&mut self, id: ParticipantId, link: Link) {
        let role = self.state.seat(id).map_or(Role::Participant, |s| s.role);
        self.connections.insert(id, Connection { link, role });
        self.send_snapshot(id);
    }
}

impl Actor for Room {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.sink
            .opened(self.conference, self.session, (self.clock)());
        let relay = relay::MediaRelay {
            room: ctx.address().downgrade(),
            sink: self.sink.clone(),
            clock: self.clock.clone(),
            conference: self.conference,
            session: self.session,
        }
        .start();
        self.media = self
            .media_factory
            .start(self.conference, self.session, relay.recipient());
        // Drops seats whose resume grace ran out.
        ctx.run_interval(Duration::from_secs(1), |room, ctx| {
            let _ = room.guarded(Command::Tick, false);
            room.stop_if_empty(ctx);
        });
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.end_session();
        self.media.close();
        self.close_waiters();
        for (_, conn) in self.connections.drain() {
            let _ = conn
                .link
                .queue
                .try_send(Arc::new(Outgoing::new(ToClient::Closed(
                    CloseReason::RoomClosed,
                ))));
            let _ = conn.link.close.send(CloseReason::RoomClosed);
        }
        Running::Stop
    }
}

impl Handler<Connect> for Room {
    type Result = Result<Entered, RoomError>;

    fn handle(&mut self, msg: Connect, ctx: &mut Self::Context) -> Self::Result {
        let id = msg.newcomer.id;
        // The connection is attached after the join, so the newcomer learns
        // the room from its snapshot rather than from its own Joined event.
        let joined = self.guarded(Command::Join(msg.newcomer), false);
        match &joined {
            Ok(Applied {
                reply: Reply::Waiting,
                ..
            }) => {
                self.waiters.insert(id, msg.link);
                return Ok(Entered::Waiting);
            }
            Ok(_) => self.attach(id, msg.link),
            Err(_) => self.stop_if_empty(ctx),
        }
        joined.map(|_| Entered::Seated)
    }
}

impl Handler<Reconnect> for Room {
    type Result = Result<Role, RoomError>;

    fn handle(&mut self, msg: Reconnect, ctx: &mut Self::Context) -> Self::Result {
        // The newest connection holding the seat's secret wins: an old one
        // not yet noticed as dead is treated as lost first.
        if let Some(old) = self.connections.remove(&msg.id) {
            let _ = old.link.close.send(CloseReason::Replaced);
            let _ = self.guarded(Command::Disconnect { id: msg.id }, false);
        }
        let resumed = self.guarded(
            Command::Resume {
                id: msg.id,
                identities: msg.identities,
            },
            false,
        );
        match resumed {
            Ok(_) => {
                self.attach(msg.id, msg.link);
                self.media_afresh(msg.id);
            }
            Err(_) => self.stop_if_empty(ctx),
        }
        resumed.map(|_| {
            self.state
                .seat(msg.id)
                .map_or(Role::Participant, |s| s.role)
        })
    }
}

impl Handler<Apply> for Room {
    type Result = Result<Applied, RoomError>;

    fn handle(&mut self, msg: Apply, ctx: &mut Self::Context) -> Self::Result {
        let reply = self.guarded(msg.0, false);
        self.stop_if_empty(ctx);
        reply
    }
}

impl Handler<ConnectionLost> for Room {
    type Result = ();

    fn handle(&mut self, msg: ConnectionLost, ctx: &mut Self::Context) {
        if self.connections.remove(&msg.id).is_some() {
            let _ = self.guarded(Command::Disconnect { id: msg.id }, false);
        }
        if self.waiters.contains_key(&msg.id) {
            let _ = self.guarded(Command::StopWaiting { id: msg.id }, false);
        }
        self.stop_if_empty(ctx);
    }
}

impl Handler<Close> for Room {
    type Result = ();

    fn handle(&mut self, _: Close, ctx: &mut Self::Context) {
        // Done here rather than in `stopping`, so that whoever awaits this
        // knows every record is handed to the sink.
        self.end_session();
        ctx.stop();
    }
}

impl Handler<InjectPanic> for Room {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, _: &mut Self::Context) {
        let _ = self.guarded(Command::Tick, true);
    }
}

/// Whether a command would add events while the sink is backlogged:
/// departures, reads and housekeeping are always taken.
fn adds_work(command: &Command) -> bool {
    !matches!(
        command,
        Command::Leave { .. }
            | Command::Disconnect { .. }
            | Command::Tick
            | Command::Close
            | Command::Resume { .. }
            | Command::StopWaiting { .. }
            | Command::ListBlocks { .. }
            | Command::CheckDownload { .. }
            | Command::CheckShare { .. }
    )
}
