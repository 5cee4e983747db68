//! The phone IVR as a pure state machine: digits and check results in,
//! prompts and actions out. The gateway session (`gateway.rs`) carries the
//! actions out (credential checks through `resolve()`, joining the room,
//! toggling the lock) and feeds their results back; the table tests below
//! drive it directly, and `fuzz/fuzz_targets/ivr.rs` feeds it arbitrary
//! input.
//!
//! Flow: access code then `#`; the security code then `#` when the
//! conference has one; the moderator PIN then `#`, or `#` alone to join as
//! a participant. Three wrong entries in one call hang up. In the room,
//! `*5` toggles the lock for moderators and is refused for participants.

use conclave_actors::{ConferenceId, Role};

/// Longest entry kept; longer ones count as a wrong entry.
pub const MAX_ENTRY: usize = 20;
/// Keys typed ahead while a check is out, kept at most.
pub const MAX_TYPED_AHEAD: usize = 64;
/// Wrong entries allowed in one call before hanging up.
pub const MAX_WRONG: u8 = 3;

/// What the caller hears. Each has one wire name (see docs/protocol.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prompt {
    EnterAccessCode,
    EnterSecurityCode,
    EnterModeratorPin,
    InvalidAccessCode,
    InvalidSecurityCode,
    InvalidModeratorPin,
    Joined,
    RoomLocked,
    Blocked,
    RoomFull,
    TryLater,
    TooManyAttempts,
    Locked,
    Unlocked,
    NotAllowed,
    /// In the waiting room until a moderator admits or denies.
    Waiting,
    Denied,
}

impl Prompt {
    /// Every prompt, for loading their recordings (src/sip/prompts.rs).
    pub const ALL: [Prompt; 17] = [
        Prompt::EnterAccessCode,
        Prompt::EnterSecurityCode,
        Prompt::EnterModeratorPin,
        Prompt::InvalidAccessCode,
        Prompt::InvalidSecurityCode,
        Prompt::InvalidModeratorPin,
        Prompt::Joined,
        Prompt::RoomLocked,
        Prompt::Blocked,
        Prompt::RoomFull,
        Prompt::TryLater,
        Prompt::TooManyAttempts,
        Prompt::Locked,
        Prompt::Unlocked,
        Prompt::NotAllowed,
        Prompt::Waiting,
        Prompt::Denied,
    ];

    pub fn from_wire(name: &str) -> Option<Prompt> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Prompt::EnterAccessCode => "enter_access_code",
            Prompt::EnterSecurityCode => "enter_security_code",
            Prompt::EnterModeratorPin => "enter_moderator_pin",
            Prompt::InvalidAccessCode => "invalid_access_code",
            Prompt::InvalidSecurityCode => "invalid_security_code",
            Prompt::InvalidModeratorPin => "invalid_moderator_pin",
            Prompt::Joined => "joined",
            Prompt::RoomLocked => "room_locked",
            Prompt::Blocked => "blocked",
            Prompt::RoomFull => "room_full",
            Prompt::TryLater => "try_later",
            Prompt::TooManyAttempts => "too_many_attempts",
            Prompt::Locked => "locked",
            Prompt::Unlocked => "unlocked",
            Prompt::NotAllowed => "not_allowed",
            Prompt::Waiting => "waiting",
            Prompt::Denied => "denied",
        }
    }
}

/// Credentials gathered so far, to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub access_code: String,
    pub security_code: Option<String>,
    pub moderator_pin: Option<String>,
}

/// What a credential check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checked {
    Admitted {
        conference: ConferenceId,
        role: Role,
    },
    InvalidCredentials,
    SecurityCodeRequired,
    InvalidModeratorPin,
    /// Throttled, busy or unavailable: the call cannot go on now.
    TryLater,
}

/// How joining the room went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinOutcome {
    Seated,
    /// In the waiting room: `Seated` follows when a moderator admits,
    /// `Denied` when one does not.
    Waiting,
    Denied,
    Locked,
    Blocked,
    Full,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// One key: `0`-`9`, `*` or `#`.
    Key(char),
    Checked(Checked),
    Joined(JoinOutcome),
    /// The room changed the caller's role (promote, demote).
    RoleChanged(Role),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Play(Prompt),
    /// Check these credentials; answer with `Input::Checked`.
    Check(Entry),
    /// Take a seat; answer with `Input::Joined`.
    Join {
        conference: ConferenceId,
        role: Role,
    },
    /// The caller, a moderator, asked to toggle the lock.
    ToggleLock,
    HangUp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Stage {
    AccessCode,
    SecurityCode {
        access: String,
    },
    ModeratorPin {
        access: String,
        security: Option<String>,
        conference: ConferenceId,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// Collecting digits for a stage.
    Entering {
        stage: Stage,
        digits: String,
    },
    /// A check is out; keys typed meanwhile wait in `ahead` and are
    /// replayed once it answers (callers type ahead of the prompts).
    Checking {
        stage: Stage,
        entry: Entry,
        ahead: String,
    },
    /// Taking a seat with this role.
    Joining {
        role: Role,
    },
    InRoom {
        role: Role,
        star: bool,
    },
    Ended,
}

#[derive(Clone, Debug)]
pub struct Ivr {
    state: State,
    wrong: u8,
    /// Keys taken from a finished check, to replay.
    ahead: String,
}

impl Default for Ivr {
    fn default() -> Self {
        Self::new()
    }
}

impl Ivr {
    pub fn new() -> Self {
        Self {
            state: State::Entering {
                stage: Stage::AccessCode,
                digits: String::new(),
            },
            wrong: 0,
            ahead: String::new(),
        }
    }

    /// What to do when the call is answered.
    pub fn start(&self) -> Vec<Action> {
        vec![Action::Play(Prompt::EnterAccessCode)]
    }

    pub fn ended(&self) -> bool {
        self.state == State::Ended
    }

    /// The caller's role once seated.
    pub fn role(&self) -> Option<Role> {
        match self.state {
            State::InRoom { role, .. } => Some(role),
            _ => None,
        }
    }

    pub fn handle(&mut self, input: Input) -> Vec<Action> {
        let state = std::mem::replace(&mut self.state, State::Ended);
        let (next, mut actions) = self.step(state, input);
        self.state = next;
        // Keys typed during a check that just answered are played now, in
        // order, unless a new check went out (they wait for that one).
        match self.state {
            State::Entering { .. } => {
                let ahead = std::mem::take(&mut self.ahead);
                for key in ahead.chars() {
                    actions.extend(self.handle(Input::Key(key)));
                }
            }
            // Keys typed ahead of the last entry are not commands for the
            // room: a caller's `*5` counts only once they are in it.
            _ => self.ahead.clear(),
        }
        actions
    }

    fn step(&mut self, state: State, input: Input) -> (State, Vec<Action>) {
        match (state, input) {
            (State::Ended, _) => (State::Ended, vec![]),
            (State::Entering { stage, mut digits }, Input::Key(k)) => match k {
                '0'..='9' => {
                    digits.push(k);
                    if digits.len() > MAX_ENTRY {
                        return self.wrong_entry(stage);
                    }
                    (State::Entering { stage, digits }, vec![])
                }
                '#' => self.submit(stage, digits),
                // `*` while entering starts the entry over and says again
                // what to enter: a caller who lost track hears where they are.
                _ => {
                    let again = ask(&stage);
                    (
                        State::Entering {
                            stage,
                            digits: String::new(),
                        },
                        vec![Action::Play(again)],
                    )
                }
            },
            (
                State::Checking {
                    stage,
                    entry,
                    mut ahead,
                },
                Input::Key(k),
            ) => {
                if ahead.len() < MAX_TYPED_AHEAD {
                    ahead.push(k);
                }
                (
                    State::Checking {
                        stage,
                        entry,
                        ahead,
                    },
                    vec![],
                )
            }
            (
                State::Checking {
                    stage,
                    entry,
                    ahead,
                },
                Input::Checked(c),
            ) => {
                self.ahead = ahead;
                self.checked(stage, entry, c)
            }
            (State::Joining { role }, Input::Joined(outcome)) => match outcome {
                JoinOutcome::Seated => (
                    State::InRoom { role, star: false },
                    vec![Action::Play(Prompt::Joined)],
                ),
                JoinOutcome::Waiting => {
                    (State::Joining { role }, vec![Action::Play(Prompt::Waiting)])
                }
                JoinOutcome::Denied => end(Prompt::Denied),
                JoinOutcome::Locked => end(Prompt::RoomLocked),
                JoinOutcome::Blocked => end(Prompt::Blocked),
                JoinOutcome::Full => end(Prompt::RoomFull),
                JoinOutcome::Failed => end(Prompt::TryLater),
            },
            (State::InRoom { role, star }, Input::Key(k)) => match (star, k) {
                (false, '*') => (State::InRoom { role, star: true }, vec![]),
                (true, '5') if role == Role::Moderator => (
                    State::InRoom { role, star: false },
                    vec![Action::ToggleLock],
                ),
                (true, '5') => (
                    State::InRoom { role, star: false },
                    vec![Action::Play(Prompt::NotAllowed)],
                ),
                (_, '*') => (State::InRoom { role, star: true }, vec![]),
                _ => (State::InRoom { role, star: false }, vec![]),
            },
            (State::InRoom { star, .. }, Input::RoleChanged(role)) => {
                (State::InRoom { role, star }, vec![])
            }
            // Anything else (keys while a check is out, stray results) changes nothing.
            (state, _) => (state, vec![]),
        }
    }

    fn submit(&mut self, stage: Stage, digits: String) -> (State, Vec<Action>) {
        let entry = match &stage {
            Stage::AccessCode => {
                if digits.is_empty() {
                    return (
                        State::Entering { stage, digits },
                        vec![Action::Play(Prompt::EnterAccessCode)],
                    );
                }
                Entry {
                    access_code: digits,
                    security_code: None,
                    moderator_pin: None,
                }
            }
            Stage::SecurityCode { access } => Entry {
                access_code: access.clone(),
                security_code: Some(digits),
                moderator_pin: None,
            },
            Stage::ModeratorPin {
                access,
                security,
                conference,
            } => {
                if digits.is_empty() {
                    // `#` alone: no PIN, join as a participant.
                    return (
                        State::Joining {
                            role: Role::Participant,
                        },
                        vec![Action::Join {
                            conference: *conference,
                            role: Role::Participant,
                        }],
                    );
                }
                Entry {
                    access_code: access.clone(),
                    security_code: security.clone(),
                    moderator_pin: Some(digits),
                }
            }
        };
        (
            State::Checking {
                stage,
                entry: entry.clone(),
                ahead: std::mem::take(&mut self.ahead),
            },
            vec![Action::Check(entry)],
        )
    }

    fn checked(&mut self, stage: Stage, entry: Entry, c: Checked) -> (State, Vec<Action>) {
        match (c, &stage) {
            (Checked::TryLater, _) => end(Prompt::TryLater),
            (Checked::Admitted { conference, role }, Stage::ModeratorPin { .. }) => (
                State::Joining { role },
                vec![Action::Join { conference, role }],
            ),
            (Checked::Admitted { conference, .. }, _) => (
                State::Entering {
                    stage: Stage::ModeratorPin {
                        access: entry.access_code,
                        security: entry.security_code,
                        conference,
                    },
                    digits: String::new(),
                },
                vec![Action::Play(Prompt::EnterModeratorPin)],
            ),
            (Checked::SecurityCodeRequired, Stage::AccessCode) => (
                State::Entering {
                    stage: Stage::SecurityCode {
                        access: entry.access_code,
                    },
                    digits: String::new(),
                },
                vec![Action::Play(Prompt::EnterSecurityCode)],
            ),
            _ => self.wrong_entry(stage),
        }
    }

    /// A wrong or overlong entry: try the same stage again, or hang up
    /// after the third.
    fn wrong_entry(&mut self, stage: Stage) -> (State, Vec<Action>) {
        self.wrong += 1;
        if self.wrong >= MAX_WRONG {
            return end(Prompt::TooManyAttempts);
        }
        let prompts = match stage {
            Stage::AccessCode => [Prompt::InvalidAccessCode, Prompt::EnterAccessCode],
            Stage::SecurityCode { .. } => [Prompt::InvalidSecurityCode, Prompt::EnterSecurityCode],
            Stage::ModeratorPin { .. } => [Prompt::InvalidModeratorPin, Prompt::EnterModeratorPin],
        };
        (
            State::Entering {
                stage,
                digits: String::new(),
            },
            prompts.into_iter().map(Action::Play).collect(),
        )
    }
}

/// The prompt that asks for a stage's entry.
fn ask(stage: &Stage) -> Prompt {
    match stage {
        Stage::AccessCode => Prompt::EnterAccessCode,
        Stage::SecurityCode { .. } => Prompt::EnterSecurityCode,
        Stage::ModeratorPin { .. } => Prompt::EnterModeratorPin,
    }
}

fn end(prompt: Prompt) -> (State, Vec<Action>) {
    (State::Ended, vec![Action::Play(prompt), Action::HangUp])
}

#[cfg(test)]
mod tests;
