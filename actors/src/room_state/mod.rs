//! The room's rules as a pure state machine: `apply(command, now)` checks
//! the sender's role and the room's state, changes the state, and returns
//! an [`Outcome`]: the sender's reply and the events the room actor carries
//! out (fan-out, persistence, disconnects, deleting bytes). No sockets, no
//! awaits, no clock: the tests in `tests/` drive it directly. The door
//! (joins, refusals, the waiting room) is in `door.rs`, the media rules in
//! `media_rules.rs`.
//!
//! A refused command changes nothing and emits no event, with one
//! exception: a join refused because the room is locked, full or bars the
//! newcomer tells the moderators (`JoinRefused`), at most once per
//! [`REFUSAL_NOTICE_GAP_MS`], so a person knocking is seen but a flood of
//! attempts does not flood the moderators.

mod command;
mod door;
mod error;
mod event;
mod media_rules;
#[cfg(test)]
mod tests;
mod types;

use std::collections::{BTreeMap, VecDeque};

pub use command::{Command, Newcomer};
pub use door::{WaitOutcome, WaitReason, Waiter, WaitingRoom};
pub use error::RoomError;
pub use event::{Event, Outcome, Reply};
pub use types::*;

use crate::ids::{BlockId, ParticipantId};
use crate::role::Role;

/// The shortest time between two `JoinRefused` notices of one room.
pub const REFUSAL_NOTICE_GAP_MS: Millis = 2_000;

/// Limits of one room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomSettings {
    /// Seats for participants; moderators are admitted beyond it, so a
    /// chairperson is never kept out of a full room.
    pub max_participants: usize,
    /// How long a dropped connection keeps its seat for a resume.
    pub resume_grace_ms: Millis,
    /// Chat messages kept for late joiners.
    pub chat_history: usize,
    /// Longest chat message, in characters.
    pub max_chat_chars: usize,
    /// Longest display name, in characters.
    pub max_name_chars: usize,
    /// Two web participants alone send media end to end, not through the
    /// server (unless recording).
    pub peer_to_peer: bool,
    /// People in the waiting room at most; more are refused as full.
    pub max_waiting: usize,
    /// People waiting from one origin (a client address) at most.
    pub max_waiting_per_origin: usize,
    /// How long someone a moderator denied may not wait again.
    pub deny_cooldown_ms: Millis,
    /// The longest wait: nobody let them in, they are told so.
    pub max_wait_ms: Millis,
}

impl Default for RoomSettings {
    fn default() -> Self {
        Self {
            max_participants: 1000,
            resume_grace_ms: 30_000,
            chat_history: 200,
            max_chat_chars: 4000,
            max_name_chars: 100,
            peer_to_peer: true,
            max_waiting: 100,
            max_waiting_per_origin: 3,
            deny_cooldown_ms: 10 * 60_000,
            max_wait_ms: 15 * 60_000,
        }
    }
}

/// What must survive a restart of the room (or of the server): the lock,
/// the permissions, the blocks and the waiting-room setting.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Durable {
    pub locked: bool,
    pub permissions: Permissions,
    pub blocks: Vec<Block>,
    pub waiting_room: WaitingRoom,
}

/// One live conference's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomState {
    settings: RoomSettings,
    durable: Durable,
    recording: bool,
    seats: BTreeMap<ParticipantId, Seat>,
    chat: VecDeque<ChatMessage>,
    documents: Vec<Document>,
    /// When moderators were last told of a refused join.
    last_refusal_notice: Option<Millis>,
    lobby: door::Lobby,
}

impl RoomState {
    pub fn new(settings: RoomSettings) -> Self {
        Self::restore(settings, Durable::default())
    }

    /// A room that starts from persisted lock, permissions and blocks.
    pub fn restore(settings: RoomSettings, durable: Durable) -> Self {
        Self {
            settings,
            durable,
            recording: false,
            seats: BTreeMap::new(),
            chat: VecDeque::new(),
            documents: Vec::new(),
            last_refusal_notice: None,
            lobby: door::Lobby::default(),
        }
    }

    /// A room rebuilt after a crash: the durable state plus the seats the
    /// supervisor remembered, so nobody loses their place.
    pub fn recover(settings: RoomSettings, durable: Durable, seats: Vec<Seat>) -> Self {
        let mut room = Self::restore(settings, durable);
        room.seats = seats.into_iter().map(|s| (s.id, s)).collect();
        room
    }

    /// [`Self::recover`], keeping what the failed state remembered of this
    /// session at the door (who was seen, a block, denials): the session
    /// goes on. Its waiting list is not kept: the actor closes those.
    pub fn recover_from(failed: &mut Self, seats: Vec<Seat>) -> Self {
        let mut room = Self::recover(failed.settings.clone(), failed.durable.clone(), seats);
        room.lobby = std::mem::take(&mut failed.lobby);
        room.lobby.waiters.clear();
        room
    }

    /// The settings the room runs with.
    pub fn settings(&self) -> &RoomSettings {
        &self.settings
    }

    pub fn durable(&self) -> &Durable {
        &self.durable
    }
    pub fn locked(&self) -> bool {
        self.durable.locked
    }
    pub fn permissions(&self) -> Permissions {
        self.durable.permissions
    }
    pub fn recording(&self) -> bool {
        self.recording
    }
    pub fn seat(&self, id: ParticipantId) -> Option<&Seat> {
        self.seats.get(&id)
    }
    /// Seats in the order people joined.
    pub fn seats(&self) -> Vec<&Seat> {
        let mut all: Vec<_> = self.seats.values().collect();
        all.sort_by_key(|s| (s.joined_at, s.id));
        all
    }
    /// Nobody is seated and nobody waits.
    pub fn is_empty(&self) -> bool {
        self.seats.is_empty() && self.lobby.waiters.is_empty()
    }
    pub fn chat(&self) -> impl Iterator<Item = &ChatMessage> {
        self.chat.iter()
    }
    pub fn documents(&self) -> &[Document] {
        &self.documents
    }
    pub fn document(&self, id: crate::ids::DocumentId) -> Option<&Document> {
        self.documents.iter().find(|d| d.id == id)
    }

    /// Applies one command at time `now`.
    pub fn apply(&mut self, command: Command, now: Millis) -> Outcome {
        let knocking = match &command {
            Command::Join(n) => {
                Some((n.name.clone(), matches!(n.endpoint, Endpoint::Phone { .. })))
            }
            _ => None,
        };
        match self.decide(command, now) {
            Ok((reply, events)) => Outcome {
                reply: Ok(reply),
                events,
            },
            Err(e) => {
                let mut outcome = Outcome::refused(e);
                if let Some((name, phone)) = knocking {
                    outcome
                        .events
                        .extend(self.refusal_notice(&name, phone, e, now));
                }
                outcome
            }
        }
    }

    /// Each arm checks first and mutates only once every check passed, so
    /// an `Err` always leaves the state untouched.
    fn decide(&mut self, command: Command, now: Millis) -> Result<(Reply, Vec<Event>), RoomError> {
        use Command::*;
        let ok = |events| Ok((Reply::Ok, events));
        if let Some(events) = self.door(&command, now) {
            return ok(events?);
        }
        match command {
            Join(newcomer) => {
                let events = self.join(newcomer, now)?;
                let waits = matches!(events.first(), Some(Event::Waiting(_)));
                Ok((if waits { Reply::Waiting } else { Reply::Ok }, events))
            }
            Admit { .. }
            | AdmitAll { .. }
            | Deny { .. }
            | StopWaiting { .. }
            | SetWaitingRoom { .. } => {
                unreachable!("the door took it")
            }
            Resume { id, identities } => {
                // A blocked person is told so, not just that the seat is gone.
                if self.is_blocked(identities.iter()) {
                    return Err(RoomError::Blocked);
                }
                let seat = self.seats.get(&id).ok_or(RoomError::NotInRoom)?;
                if seat.disconnected_at.is_none() {
                    return Err(RoomError::AlreadyConnected);
                }
                if self.is_blocked(seat.identities.iter().chain(&identities)) {
                    return Err(RoomError::Blocked);
                }
                self.seats
                    .get_mut(&id)
                    .expect("checked above")
                    .disconnected_at = None;
                ok(vec![Event::Resumed { id }])
            }
            Leave { id } if self.is_waiting(id) => self
                .door(&StopWaiting { id }, now)
                .expect("a door command")
                .map(|events| (Reply::Ok, events)),
            Leave { id } => {
                self.seats.remove(&id).ok_or(RoomError::NotInRoom)?;
                ok(vec![Event::Left {
                    id,
                    reason: LeaveReason::Left,
                }])
            }
            Disconnect { id } => {
                let seat = self.seats.get_mut(&id).ok_or(RoomError::NotInRoom)?;
                seat.disconnected_at.get_or_insert(now);
                ok(vec![])
            }
            Tick => {
                let grace = self.settings.resume_grace_ms;
                let expired: Vec<_> = self
                    .seats
                    .values()
                    .filter(|s| s.disconnected_at.is_some_and(|t| now - t >= grace))
                    .map(|s| s.id)
                    .collect();
                let mut events: Vec<_> = expired
                    .into_iter()
                    .map(|id| {
                        self.seats.remove(&id);
                        Event::Left {
                            id,
                            reason: LeaveReason::Dropped,
                        }
                    })
                    .collect();
                events.extend(self.expire_waiters(now));
                ok(events)
            }
            Close => {
                let seats = std::mem::take(&mut self.seats);
                let mut seats: Vec<_> = seats.into_values().collect();
                seats.sort_by_key(|s| (s.joined_at, s.id));
                let left = seats.into_iter().map(|s| Event::Left {
                    id: s.id,
                    reason: LeaveReason::RoomClosed,
                });
                // A session's documents end with it.
                let expired = std::mem::take(&mut self.documents)
                    .into_iter()
                    .map(|d| Event::DocumentExpired { document: d.id });
                let waiting = self.empty_lobby();
                ok(waiting.into_iter().chain(left).chain(expired).collect())
            }
            Lock { by } => {
                self.moderator(by)?;
                ok(self.set_locked(true, by))
            }
            Unlock { by } => {
                self.moderator(by)?;
                ok(self.set_locked(false, by))
            }
            Remove { by, target, block } => ok(self.remove(by, target, block, now)?),
            ListBlocks { by } => {
                self.moderator(by)?;
                Ok((Reply::Blocks(self.durable.blocks.clone()), vec![]))
            }
            Unblock { by, block } => {
                self.moderator(by)?;
                let i = self.block_index(block)?;
                let block = self.durable.blocks.remove(i);
                ok(vec![Event::Unblocked { block, by }])
            }
            SetPermission {
                by,
                permission,
                audience,
            } => {
                self.moderator(by)?;
                if self.durable.permissions.get(permission) == audience {
                    return ok(vec![]);
                }
                self.durable.permissions.set(permission, audience);
                ok(vec![Event::PermissionChanged {
                    permission,
                    audience,
                    by,
                }])
            }
            Mute { by, target, muted } => {
                self.moderator(by)?;
                let seat = self.target_mut(target)?;
                if seat.muted == muted {
                    return ok(vec![]);
                }
                seat.muted = muted;
                ok(vec![Event::Muted { target, muted, by }])
            }
            Promote { by, target } => ok(self.set_role(by, target, Role::Moderator)?),
            Demote { by, target } => ok(self.set_role(by, target, Role::Participant)?),
            NameCaller { by, target, name } => {
                self.moderator(by)?;
                let name = self.clean_name(&name)?;
                let seat = self.target_mut(target)?;
                let Endpoint::Phone { number, .. } = &seat.endpoint else {
                    return Err(RoomError::InvalidTarget);
                };
                let number = number.clone();
                let index = seat.identities.iter().find_map(|i| match i {
                    Identity::Phone(index) => Some(index.clone()),
                    _ => None,
                });
                seat.name = name.clone();
                ok(vec![Event::CallerNamed {
                    target,
                    name,
                    by,
                    number,
                    index,
                }])
            }
            Chat { by, id, text } => {
                let seat = self.sender(by)?;
                if !self.durable.permissions.chat.admits(seat.role) {
                    return Err(RoomError::NotPermitted);
                }
                let text = crate::text::chat(&text, self.settings.max_chat_chars)
                    .map_err(|_| RoomError::InvalidText)?;
                let message = ChatMessage {
                    id,
                    from: by,
                    from_name: seat.name.clone(),
                    at: now,
                    text: Some(text),
                };
                self.chat.push_back(message.clone());
                while self.chat.len() > self.settings.chat_history {
                    self.chat.pop_front();
                }
                ok(vec![Event::ChatPosted(message)])
            }
            DeleteChat { by, message } => {
                let role = self.sender(by)?.role;
                let m = self
                    .chat
                    .iter_mut()
                    .find(|m| m.id == message)
                    .ok_or(RoomError::UnknownMessage)?;
                if role != Role::Moderator && m.from != by {
                    return Err(RoomError::Forbidden);
                }
                if m.text.take().is_none() {
                    return ok(vec![]);
                }
                ok(vec![Event::ChatDeleted { message, by }])
            }
            CheckShare { by } => {
                self.may_share(by)?;
                ok(vec![])
            }
            AddDocument { by, document } => {
                self.may_share(by)?;
                self.documents.push(document.clone());
                ok(vec![Event::DocumentAdded(document)])
            }
            RemoveDocument { by, document } => {
                let role = self.sender(by)?.role;
                let i = self
                    .documents
                    .iter()
                    .position(|d| d.id == document)
                    .ok_or(RoomError::UnknownDocument)?;
                if role != Role::Moderator && self.documents[i].by != by {
                    return Err(RoomError::Forbidden);
                }
                self.documents.remove(i);
                ok(vec![Event::DocumentRemoved { document, by }])
            }
            CheckDownload { by, document } => {
                self.sender(by)?;
                let d = self.document(document).ok_or(RoomError::UnknownDocument)?;
                Ok((Reply::Document(d.clone()), vec![]))
            }
            StartRecording { by } => ok(self.set_recording(true, by)?),
            StopRecording { by } => ok(self.set_recording(false, by)?),
        }
    }

    fn remove(
        &mut self,
        by: ParticipantId,
        target: ParticipantId,
        block: bool,
        now: Millis,
    ) -> Result<Vec<Event>, RoomError> {
        self.moderator(by)?;
        let seat = self
            .seats
            .get(&target)
            .ok_or(RoomError::UnknownParticipant)?;
        if target == by || seat.owner {
            return Err(RoomError::InvalidTarget);
        }
        let seat = self.seats.remove(&target).expect("checked above");
        let removed = Event::Removed { target, by, block };
        if !block {
            return Ok(vec![
                removed,
                Event::Left {
                    id: target,
                    reason: LeaveReason::Removed,
                },
            ]);
        }
        let block = Block {
            id: BlockId::new(),
            identities: seat.identities,
            name: seat.name,
            by,
            at: now,
        };
        self.durable.blocks.push(block.clone());
        self.lobby.after_block = true;
        // The same person waiting at the door (another tab) goes too.
        let turned_away = self.turn_away_blocked();
        let mut events = vec![
            removed,
            Event::Blocked(block),
            Event::Left {
                id: target,
                reason: LeaveReason::Blocked,
            },
        ];
        events.extend(turned_away);
        Ok(events)
    }

    fn set_locked(&mut self, locked: bool, by: ParticipantId) -> Vec<Event> {
        if self.durable.locked == locked {
            return vec![];
        }
        self.durable.locked = locked;
        vec![if locked {
            Event::Locked { by }
        } else {
            Event::Unlocked { by }
        }]
    }

    fn set_role(
        &mut self,
        by: ParticipantId,
        target: ParticipantId,
        role: Role,
    ) -> Result<Vec<Event>, RoomError> {
        self.moderator(by)?;
        let seat = self.target_mut(target)?;
        if seat.owner && role != Role::Moderator {
            return Err(RoomError::InvalidTarget);
        }
        if seat.role == role {
            return Ok(vec![]);
        }
        seat.role = role;
        Ok(vec![Event::RoleChanged { target, role, by }])
    }

    fn set_recording(&mut self, on: bool, by: ParticipantId) -> Result<Vec<Event>, RoomError> {
        self.moderator(by)?;
        if self.recording == on {
            return Ok(vec![]);
        }
        self.recording = on;
        Ok(vec![Event::RecordingChanged { on, by }])
    }

    fn may_share(&self, by: ParticipantId) -> Result<(), RoomError> {
        let seat = self.sender(by)?;
        if !self.durable.permissions.share.admits(seat.role) {
            return Err(RoomError::NotPermitted);
        }
        Ok(())
    }

    fn is_blocked<'a>(&self, mut identities: impl Iterator<Item = &'a Identity>) -> bool {
        identities.any(|i| self.durable.blocks.iter().any(|b| b.identities.contains(i)))
    }

    fn block_index(&self, id: BlockId) -> Result<usize, RoomError> {
        self.durable
            .blocks
            .iter()
            .position(|b| b.id == id)
            .ok_or(RoomError::UnknownBlock)
    }

    fn sender(&self, by: ParticipantId) -> Result<&Seat, RoomError> {
        self.seats.get(&by).ok_or(RoomError::NotInRoom)
    }

    fn moderator(&self, by: ParticipantId) -> Result<&Seat, RoomError> {
        let seat = self.sender(by)?;
        if seat.role != Role::Moderator {
            return Err(RoomError::Forbidden);
        }
        Ok(seat)
    }

    fn target_mut(&mut self, id: ParticipantId) -> Result<&mut Seat, RoomError> {
        self.seats.get_mut(&id).ok_or(RoomError::UnknownParticipant)
    }

    fn clean_name(&self, raw: &str) -> Result<String, RoomError> {
        crate::text::name(raw, self.settings.max_name_chars).map_err(|_| RoomError::InvalidText)
    }
}
