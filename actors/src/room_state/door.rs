//! The door: who comes in, who waits, who is turned away.
//!
//! A newcomer the credentials admitted is seated at once, or waits for a
//! moderator in the waiting room when the room's setting asks for it, when
//! a block this session made the room wary of unknown guests (the answer
//! to a blocked person coming back from a fresh browser: a moderator sees
//! the name they chose and decides), or when the conference's failure limit
//! was reached (someone is guessing codes: the right codes then wait
//! instead of being refused). Moderators and the owner never wait.

use std::collections::HashSet;

use super::{Command, Event, Millis, Newcomer, RoomError, RoomState, Seat};
use crate::ids::ParticipantId;
use crate::role::Role;

use super::types::Identity;

/// Who waits for a moderator before joining; kept with the lock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum WaitingRoom {
    /// Everyone with the codes comes straight in.
    #[default]
    Off,
    /// Everyone but moderators and the owner waits.
    Everyone,
    /// Guests with no signed-in account and no device this session has
    /// seen seated wait.
    UnknownGuests,
}

impl WaitingRoom {
    pub fn as_str(self) -> &'static str {
        match self {
            WaitingRoom::Off => "off",
            WaitingRoom::Everyone => "everyone",
            WaitingRoom::UnknownGuests => "unknown_guests",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "off" => Some(WaitingRoom::Off),
            "everyone" => Some(WaitingRoom::Everyone),
            "unknown_guests" => Some(WaitingRoom::UnknownGuests),
            _ => None,
        }
    }
}

/// Why someone waits, for the moderators who decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitReason {
    /// The room's waiting-room setting.
    Setting,
    /// An unknown guest after a block this session.
    AfterBlock,
    /// The conference's failure limit was reached: someone is guessing
    /// codes, so even the right ones wait.
    Guessing,
}

impl WaitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            WaitReason::Setting => "setting",
            WaitReason::AfterBlock => "after_block",
            WaitReason::Guessing => "codes_guessed",
        }
    }
}

/// Someone in the waiting room. The name is already cleaned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiter {
    pub newcomer: Newcomer,
    pub since: Millis,
    pub reason: WaitReason,
}

impl Waiter {
    pub fn id(&self) -> ParticipantId {
        self.newcomer.id
    }
}

/// How a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitOutcome {
    Admitted {
        by: ParticipantId,
    },
    Denied {
        by: ParticipantId,
    },
    /// A block made meanwhile matches them (another tab of the one blocked).
    Blocked,
    /// Nobody let them in within the longest wait.
    Expired,
    /// The newcomer gave up (hung up, closed the page) or the room closed.
    Gone,
}

/// The waiting room's live state: not durable, a restart empties it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Lobby {
    /// In the order they came.
    pub waiters: Vec<Waiter>,
    /// Identities seated this session, accounts included: their owners
    /// are known guests.
    pub seen: HashSet<Identity>,
    /// A block this session: unknown guests wait from now on.
    pub after_block: bool,
    /// Identities a moderator denied, until when they may not wait again.
    pub denied: Vec<(Identity, Millis)>,
}

/// Denials remembered at most; the oldest are forgotten first.
const MAX_DENIALS: usize = 1_000;

impl RoomState {
    /// The waiting list, in the order people came.
    pub fn waiting(&self) -> &[Waiter] {
        &self.lobby.waiters
    }

    pub fn waiting_room(&self) -> WaitingRoom {
        self.durable.waiting_room
    }

    pub fn is_waiting(&self, id: ParticipantId) -> bool {
        self.lobby.waiters.iter().any(|w| w.id() == id)
    }

    pub(super) fn join(&mut self, n: Newcomer, now: Millis) -> Result<Vec<Event>, RoomError> {
        if self.is_blocked(n.identities.iter()) {
            return Err(RoomError::Blocked);
        }
        if self.seats.contains_key(&n.id) || self.is_waiting(n.id) {
            return Err(RoomError::AlreadyConnected);
        }
        // Checked last: a refusal by the lock or the limit says so even
        // when the name would not do.
        let named = |room: &Self, n: Newcomer| {
            let name = room.clean_name(&n.name)?;
            Ok::<_, RoomError>(Newcomer { name, ..n })
        };
        if n.role == Role::Moderator || n.owner {
            let n = named(self, n)?;
            return Ok(vec![self.take_seat(n, now)]);
        }
        if self.is_denied(&n.identities, now) {
            return Err(RoomError::Denied);
        }
        if self.durable.locked {
            return Err(RoomError::Locked);
        }
        if let Some(reason) = self.must_wait(&n) {
            if self.lobby.waiters.len() >= self.settings.max_waiting {
                return Err(RoomError::RoomFull);
            }
            if n.origin.is_some() {
                let same = self
                    .lobby
                    .waiters
                    .iter()
                    .filter(|w| w.newcomer.origin == n.origin)
                    .count();
                if same >= self.settings.max_waiting_per_origin {
                    return Err(RoomError::TooManyWaiting);
                }
            }
            let waiter = Waiter {
                newcomer: named(self, n)?,
                since: now,
                reason,
            };
            self.lobby.waiters.push(waiter.clone());
            return Ok(vec![Event::Waiting(waiter)]);
        }
        self.check_room_for_participant()?;
        let n = named(self, n)?;
        Ok(vec![self.take_seat(n, now)])
    }

    /// The waiting-room commands; `None` for any other.
    pub(super) fn door(
        &mut self,
        command: &Command,
        now: Millis,
    ) -> Option<Result<Vec<Event>, RoomError>> {
        Some(match *command {
            Command::Admit { by, target } => self.admit(by, target, now),
            Command::AdmitAll { by } => self.admit_all(by, now),
            Command::Deny { by, target } => self.deny(by, target, now),
            Command::StopWaiting { id } => self
                .take_waiter(id)
                .map(|_| {
                    vec![Event::WaitingLeft {
                        id,
                        outcome: WaitOutcome::Gone,
                    }]
                })
                .ok_or(RoomError::NotInRoom),
            Command::SetWaitingRoom { by, setting } => self.set_waiting_room(by, setting),
            _ => return None,
        })
    }

    fn admit(
        &mut self,
        by: ParticipantId,
        target: ParticipantId,
        now: Millis,
    ) -> Result<Vec<Event>, RoomError> {
        self.moderator(by)?;
        let waiter = self
            .lobby
            .waiters
            .iter()
            .find(|w| w.id() == target)
            .ok_or(RoomError::UnknownParticipant)?;
        // Checked again: a block or a denial may have come since they queued.
        if self.is_blocked(waiter.newcomer.identities.iter()) {
            return Err(RoomError::Blocked);
        }
        if self.is_denied(&waiter.newcomer.identities, now) {
            return Err(RoomError::Denied);
        }
        self.check_room_for_participant()?;
        let waiter = self.take_waiter(target).expect("checked above");
        Ok(vec![
            Event::WaitingLeft {
                id: target,
                outcome: WaitOutcome::Admitted { by },
            },
            self.take_seat(waiter.newcomer, now),
        ])
    }

    /// Admits in the order people came, while there are seats.
    fn admit_all(&mut self, by: ParticipantId, now: Millis) -> Result<Vec<Event>, RoomError> {
        self.moderator(by)?;
        let mut events = Vec::new();
        while let Some(first) = self.lobby.waiters.first() {
            let id = first.id();
            if self.check_room_for_participant().is_err() {
                break;
            }
            events.extend(self.admit(by, id, now)?);
        }
        Ok(events)
    }

    fn deny(
        &mut self,
        by: ParticipantId,
        target: ParticipantId,
        now: Millis,
    ) -> Result<Vec<Event>, RoomError> {
        self.moderator(by)?;
        let waiter = self
            .take_waiter(target)
            .ok_or(RoomError::UnknownParticipant)?;
        let until = now + self.settings.deny_cooldown_ms;
        let denied = &mut self.lobby.denied;
        denied.retain(|(_, t)| *t > now);
        denied.extend(waiter.newcomer.identities.into_iter().map(|i| (i, until)));
        let excess = denied.len().saturating_sub(MAX_DENIALS);
        denied.drain(..excess);
        Ok(vec![Event::WaitingLeft {
            id: target,
            outcome: WaitOutcome::Denied { by },
        }])
    }

    fn set_waiting_room(
        &mut self,
        by: ParticipantId,
        setting: WaitingRoom,
    ) -> Result<Vec<Event>, RoomError> {
        self.moderator(by)?;
        if self.durable.waiting_room == setting {
            return Ok(vec![]);
        }
        self.durable.waiting_room = setting;
        Ok(vec![Event::WaitingRoomChanged { setting, by }])
    }

    /// Waiters a block now matches leave the door.
    pub(super) fn turn_away_blocked(&mut self) -> Vec<Event> {
        let waiters = std::mem::take(&mut self.lobby.waiters);
        let (barred, kept): (Vec<_>, Vec<_>) = waiters
            .into_iter()
            .partition(|w| self.is_blocked(w.newcomer.identities.iter()));
        self.lobby.waiters = kept;
        barred
            .into_iter()
            .map(|w| Event::WaitingLeft {
                id: w.id(),
                outcome: WaitOutcome::Blocked,
            })
            .collect()
    }

    /// Waiters nobody let in within [`super::RoomSettings::max_wait_ms`].
    pub(super) fn expire_waiters(&mut self, now: Millis) -> Vec<Event> {
        let longest = self.settings.max_wait_ms;
        let waiters = std::mem::take(&mut self.lobby.waiters);
        let (expired, kept): (Vec<_>, Vec<_>) =
            waiters.into_iter().partition(|w| now - w.since >= longest);
        self.lobby.waiters = kept;
        expired
            .into_iter()
            .map(|w| Event::WaitingLeft {
                id: w.id(),
                outcome: WaitOutcome::Expired,
            })
            .collect()
    }

    /// Everyone still waiting leaves (the room closes).
    pub(super) fn empty_lobby(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.lobby.waiters)
            .into_iter()
            .map(|w| Event::WaitingLeft {
                id: w.id(),
                outcome: WaitOutcome::Gone,
            })
            .collect()
    }

    fn take_waiter(&mut self, id: ParticipantId) -> Option<Waiter> {
        let i = self.lobby.waiters.iter().position(|w| w.id() == id)?;
        Some(self.lobby.waiters.remove(i))
    }

    fn take_seat(&mut self, n: Newcomer, now: Millis) -> Event {
        self.lobby.seen.extend(n.identities.iter().cloned());
        let seat = Seat {
            id: n.id,
            name: n.name,
            role: n.role,
            owner: n.owner,
            endpoint: n.endpoint,
            identities: n.identities,
            muted: false,
            joined_at: now,
            disconnected_at: None,
        };
        self.seats.insert(seat.id, seat.clone());
        Event::Joined(seat)
    }

    /// Moderators are admitted beyond the limit, so a chairperson is never
    /// kept out of a full room.
    fn check_room_for_participant(&self) -> Result<(), RoomError> {
        if self.seats.len() >= self.settings.max_participants {
            return Err(RoomError::RoomFull);
        }
        Ok(())
    }

    fn must_wait(&self, n: &Newcomer) -> Option<WaitReason> {
        if n.hold {
            return Some(WaitReason::Guessing);
        }
        let seen = || n.identities.iter().any(|i| self.lobby.seen.contains(i));
        // The setting's "unknown guest": no account and nothing seen. After
        // a block, stricter: anyone can make an account, so only what was
        // seated this session is known.
        let signed_in = || {
            n.identities
                .iter()
                .any(|i| matches!(i, Identity::Account(_) | Identity::External(_)))
        };
        match self.durable.waiting_room {
            WaitingRoom::Everyone => Some(WaitReason::Setting),
            WaitingRoom::UnknownGuests if !signed_in() && !seen() => Some(WaitReason::Setting),
            _ if self.lobby.after_block && !seen() => Some(WaitReason::AfterBlock),
            _ => None,
        }
    }

    fn is_denied(&self, identities: &[Identity], now: Millis) -> bool {
        self.lobby
            .denied
            .iter()
            .any(|(i, until)| *until > now && identities.contains(i))
    }

    /// Tells moderators someone was turned away, unless they were told
    /// within the last [`super::REFUSAL_NOTICE_GAP_MS`]. A name that breaks
    /// the naming rules is not repeated: the notice says "someone".
    pub(super) fn refusal_notice(
        &mut self,
        name: &str,
        phone: bool,
        e: RoomError,
        now: Millis,
    ) -> Option<Event> {
        if !matches!(
            e,
            RoomError::Locked | RoomError::RoomFull | RoomError::Blocked
        ) {
            return None;
        }
        if !self
            .seats
            .values()
            .any(|s| s.role == Role::Moderator && s.disconnected_at.is_none())
        {
            return None;
        }
        if self
            .last_refusal_notice
            .is_some_and(|last| now.saturating_sub(last) < super::REFUSAL_NOTICE_GAP_MS)
        {
            return None;
        }
        self.last_refusal_notice = Some(now);
        Some(Event::JoinRefused {
            name: self.clean_name(name).ok(),
            phone,
            reason: e,
        })
    }
}
