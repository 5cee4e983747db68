//! The telephony gateway's WebSocket (`GET /gateway`): a SIP bridge
//! authenticates with the gateway secret (`Authorization: Bearer`, never in
//! the URL) and multiplexes calls over one connection. Per call it sends
//! the caller's number and DTMF keys; Conclave runs the [`Ivr`] and answers
//! with prompts to play, and hangs a call up when the IVR or the room says
//! so. A seated caller is an ordinary participant of the room: phone
//! endpoint, masked number for non-moderators, the name the owner's address
//! book holds for the number. The protocol is in docs/protocol.md.
//!
//! Credential checks (argon2 for PINs) and joins run aside and report back
//! through the connection's own channel, so one call never holds up another.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Addr;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason};
use conclave_actors::room::{Apply, Connect, ConnectionLost, Link, Room};
use conclave_actors::room_state::{Command, Endpoint, Identity, Newcomer, RoomError};
use conclave_actors::view::ToClient;
use conclave_actors::{ConferenceId, ParticipantId, Role};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::ivr::{Action, Checked, Entry, Input, Ivr, JoinOutcome, Prompt};
use super::mask_number;
use crate::codes::{Credentials, Refusal};
use crate::error::AppError;
use crate::rooms::Rooms;
use crate::services::Services;
use crate::throttle::ThrottleKey;

/// Calls one gateway connection may carry at once.
const MAX_CALLS: usize = 1000;
const MAX_FRAME_BYTES: usize = 16 * 1024;
const HEARTBEAT: Duration = Duration::from_secs(10);
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// A seated call's room queue; a phone leg only acts on a few messages.
const QUEUE_CAPACITY: usize = 256;

/// What the gateway sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum GatewayMessage {
    Call { call: String, from: String },
    Dtmf { call: String, digits: String },
    Hangup { call: String },
}

/// What finished aside, for the connection to act on.
enum Aside {
    Checked {
        call: String,
        checked: Checked,
    },
    Joined {
        call: String,
        outcome: Result<(ParticipantId, Addr<Room>, Role), JoinOutcome>,
    },
    /// The room closed the seat (removed, blocked, room closed, replaced...).
    Closed {
        call: String,
        reason: &'static str,
    },
    RoleChanged {
        call: String,
        role: Role,
    },
    Prompt {
        call: String,
        prompt: Prompt,
    },
}

struct Call {
    ivr: Ivr,
    number: String,
    /// Keyed hash of the number: the identity blocks and contacts use.
    index: String,
    seat: Option<(ParticipantId, Addr<Room>)>,
    /// Kept current from the room's messages, for `*5`.
    locked: Arc<AtomicBool>,
}

pub async fn endpoint(
    req: HttpRequest,
    body: web::Payload,
    services: web::Data<Services>,
    rooms: web::Data<Rooms>,
) -> Result<HttpResponse, actix_web::Error> {
    let Some(secret) = rooms.gateway_secret.as_ref() else {
        return Err(AppError::Http {
            status: StatusCode::NOT_FOUND,
            code: "gateway_disabled",
            title: "no gateway secret is configured".into(),
        }
        .into());
    };
    let presented = crate::http::auth::bearer(&req).unwrap_or("");
    if !secret.matches(presented) {
        return Err(AppError::Unauthorized.into());
    }
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let stream = stream
        .max_frame_size(MAX_FRAME_BYTES)
        .aggregate_continuations()
        .max_continuation_size(MAX_FRAME_BYTES);
    actix_web::rt::spawn(async move {
        let (aside_tx, aside_rx) = mpsc::channel(1024);
        let mut gateway = Gateway {
            session,
            services,
            rooms,
            calls: HashMap::new(),
            aside_tx,
        };
        let reason = gateway.run(stream, aside_rx).await;
        gateway.drop_all();
        let _ = tokio::time::timeout(SEND_TIMEOUT, gateway.session.close(Some(reason))).await;
    });
    Ok(response)
}

struct Gateway {
    session: actix_ws::Session,
    services: web::Data<Services>,
    rooms: web::Data<Rooms>,
    calls: HashMap<String, Call>,
    aside_tx: mpsc::Sender<Aside>,
}

fn close(code: CloseCode, reason: &str) -> CloseReason {
    CloseReason {
        code,
        description: Some(reason.to_owned()),
    }
}

impl Gateway {
    async fn run(
        &mut self,
        mut stream: actix_ws::AggregatedMessageStream,
        mut aside: mpsc::Receiver<Aside>,
    ) -> CloseReason {
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        let mut last_seen = Instant::now();
        loop {
            tokio::select! {
                frame = stream.recv() => {
                    last_seen = Instant::now();
                    match frame {
                        Some(Ok(AggregatedMessage::Text(text))) => {
                            if let Some(reason) = self.message(&text).await {
                                return reason;
                            }
                        }
                        Some(Ok(AggregatedMessage::Ping(p))) => {
                            let _ = self.session.pong(&p).await;
                        }
                        Some(Ok(AggregatedMessage::Pong(_))) => {}
                        Some(Ok(AggregatedMessage::Binary(_))) => {
                            return close(CloseCode::Unsupported, "binary_frames_not_supported")
                        }
                        Some(Ok(AggregatedMessage::Close(_))) | None => {
                            return close(CloseCode::Normal, "bye")
                        }
                        Some(Err(_)) => return close(CloseCode::Policy, "frame_too_large_or_malformed"),
                    }
                }
                Some(done) = aside.recv() => self.aside(done).await,
                _ = heartbeat.tick() => {
                    if last_seen.elapsed() > IDLE_TIMEOUT {
                        return close(CloseCode::Away, "idle_timeout");
                    }
                    let _ = self.session.ping(b"").await;
                }
            }
        }
    }

    async fn send(&mut self, value: Value) {
        let _ = tokio::time::timeout(SEND_TIMEOUT, self.session.text(value.to_string())).await;
    }

    async fn error(&mut self, call: Option<&str>, code: &str, message: &str) {
        self.send(json!({"type": "error", "call": call, "code": code, "message": message}))
            .await;
    }

    /// One frame from the gateway; `Some` closes the connection.
    async fn message(&mut self, text: &str) -> Option<CloseReason> {
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            return Some(close(CloseCode::Policy, "malformed_json"));
        };
        let call_id = value.get("call").and_then(Value::as_str).map(str::to_owned);
        let message = match serde_json::from_value::<GatewayMessage>(value) {
            Ok(m) => m,
            Err(_) => {
                self.error(
                    call_id.as_deref(),
                    "bad_request",
                    "unknown type, or a missing, extra or mistyped field",
                )
                .await;
                return None;
            }
        };
        match message {
            GatewayMessage::Call { call, from } => self.call(call, from).await,
            GatewayMessage::Dtmf { call, digits } => self.dtmf(call, digits).await,
            GatewayMessage::Hangup { call } => {
                if let Some(c) = self.calls.remove(&call) {
                    if let Some((id, room)) = c.seat {
                        room.do_send(Apply(Command::Leave { id }));
                    }
                } else {
                    self.error(Some(&call), "unknown_call", "no such call")
                        .await;
                }
            }
        }
        None
    }

    async fn call(&mut self, call: String, from: String) {
        let valid_id = !call.is_empty() && call.chars().count() <= 64;
        let digits = from.strip_prefix('+').unwrap_or(&from);
        let valid_number =
            (3..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
        if !valid_id || !valid_number {
            let field = if valid_id { "from" } else { "call" };
            self.error(
                valid_id.then_some(call.as_str()),
                "bad_request",
                &format!("{field} is not valid"),
            )
            .await;
            return;
        }
        if self.calls.contains_key(&call) {
            self.error(Some(&call), "duplicate_call", "that call id is in use")
                .await;
            return;
        }
        if self.calls.len() >= MAX_CALLS {
            self.error(
                Some(&call),
                "too_many_calls",
                "this connection carries too many calls",
            )
            .await;
            return;
        }
        let ivr = Ivr::new();
        let start = ivr.start();
        let index = crate::crypto::phone_index(&self.services.secrets.hmac_key, &from);
        self.calls.insert(
            call.clone(),
            Call {
                ivr,
                number: from,
                index,
                seat: None,
                locked: Arc::default(),
            },
        );
        self.act(&call, start).await;
    }

    async fn dtmf(&mut self, call: String, digits: String) {
        let valid = !digits.is_empty()
            && digits.len() <= 64
            && digits
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#');
        if !valid {
            self.error(
                Some(&call),
                "bad_request",
                "digits must be 1 to 64 of 0-9, * and #",
            )
            .await;
            return;
        }
        let Some(c) = self.calls.get_mut(&call) else {
            self.error(Some(&call), "unknown_call", "no such call")
                .await;
            return;
        };
        let mut actions = Vec::new();
        for key in digits.chars() {
            actions.extend(c.ivr.handle(Input::Key(key)));
        }
        self.act(&call, actions).await;
    }

    async fn aside(&mut self, done: Aside) {
        let (call, input) = match done {
            Aside::Checked { call, checked } => (call, Input::Checked(checked)),
            Aside::Joined { call, outcome } => {
                let outcome = match outcome {
                    Ok((id, room, _)) => {
                        match self.calls.get_mut(&call) {
                            Some(c) => c.seat = Some((id, room)),
                            // Hung up while joining: give the seat back.
                            None => room.do_send(Apply(Command::Leave { id })),
                        }
                        JoinOutcome::Seated
                    }
                    Err(outcome) => outcome,
                };
                (call, Input::Joined(outcome))
            }
            Aside::RoleChanged { call, role } => (call, Input::RoleChanged(role)),
            Aside::Prompt { call, prompt } => {
                if self.calls.contains_key(&call) {
                    self.send(json!({"type": "prompt", "call": call, "prompt": prompt.as_str()}))
                        .await;
                }
                return;
            }
            Aside::Closed { call, reason } => {
                if self.calls.remove(&call).is_some() {
                    self.send(json!({"type": "hangup", "call": call, "reason": reason}))
                        .await;
                }
                return;
            }
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let actions = c.ivr.handle(input);
        self.act(&call, actions).await;
    }

    /// Carries out what the IVR asked for.
    async fn act(&mut self, call: &str, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Play(prompt) => {
                    self.send(json!({"type": "prompt", "call": call, "prompt": prompt.as_str()}))
                        .await;
                }
                Action::Check(entry) => self.check(call, entry),
                Action::Join { conference, role } => self.join(call, conference, role),
                Action::ToggleLock => self.toggle_lock(call),
                Action::HangUp => {
                    if let Some(c) = self.calls.remove(call) {
                        if let Some((id, room)) = c.seat {
                            room.do_send(Apply(Command::Leave { id }));
                        }
                        let reason = if c.ivr.ended() { "ivr" } else { "hangup" };
                        self.send(json!({"type": "hangup", "call": call, "reason": reason}))
                            .await;
                    }
                }
            }
        }
    }

    fn check(&self, call: &str, entry: Entry) {
        let Some(c) = self.calls.get(call) else {
            return;
        };
        let (services, tx, call, key) = (
            self.services.clone(),
            self.aside_tx.clone(),
            call.to_owned(),
            ThrottleKey::Caller(c.index.clone()),
        );
        actix_web::rt::spawn(async move {
            let creds = Credentials {
                access_code: entry.access_code,
                security_code: entry.security_code,
                moderator_pin: entry.moderator_pin,
            };
            let checked = match services.resolve(&creds, key).await {
                Ok(a) => Checked::Admitted {
                    conference: a.conference_id,
                    role: a.role,
                },
                Err(Refusal::InvalidCredentials) => Checked::InvalidCredentials,
                Err(Refusal::SecurityCodeRequired) => Checked::SecurityCodeRequired,
                Err(Refusal::InvalidModeratorPin) => Checked::InvalidModeratorPin,
                Err(Refusal::Throttled { .. } | Refusal::Busy | Refusal::Unavailable) => {
                    Checked::TryLater
                }
            };
            let _ = tx.send(Aside::Checked { call, checked }).await;
        });
    }

    fn join(&self, call: &str, conference: ConferenceId, role: Role) {
        let Some(c) = self.calls.get(call) else {
            return;
        };
        let (services, rooms, tx, call) = (
            self.services.clone(),
            self.rooms.clone(),
            self.aside_tx.clone(),
            call.to_owned(),
        );
        let (number, index, locked) = (c.number.clone(), c.index.clone(), c.locked.clone());
        actix_web::rt::spawn(async move {
            let outcome = seat_caller(
                &services, &rooms, &tx, &call, conference, role, number, index, locked,
            )
            .await;
            let _ = tx.send(Aside::Joined { call, outcome }).await;
        });
    }

    fn toggle_lock(&self, call: &str) {
        let Some(c) = self.calls.get(call) else {
            return;
        };
        let Some((by, room)) = c.seat.clone() else {
            return;
        };
        let lock = !c.locked.load(Ordering::SeqCst);
        let (tx, call) = (self.aside_tx.clone(), call.to_owned());
        actix_web::rt::spawn(async move {
            let command = if lock {
                Command::Lock { by }
            } else {
                Command::Unlock { by }
            };
            let prompt = match room.send(Apply(command)).await {
                Ok(Ok(_)) if lock => Prompt::Locked,
                Ok(Ok(_)) => Prompt::Unlocked,
                Ok(Err(RoomError::Forbidden)) => Prompt::NotAllowed,
                _ => Prompt::TryLater,
            };
            let _ = tx.send(Aside::Prompt { call, prompt }).await;
        });
    }

    /// The gateway connection ended: every seated call is a lost
    /// connection (its seat leaves with `dropped` after the grace).
    fn drop_all(&mut self) {
        for (_, c) in self.calls.drain() {
            if let Some((id, room)) = c.seat {
                room.do_send(ConnectionLost { id });
            }
        }
    }
}

/// Takes a seat for a caller, and starts relaying what the room tells it.
#[allow(clippy::too_many_arguments)]
async fn seat_caller(
    services: &Services,
    rooms: &Rooms,
    tx: &mpsc::Sender<Aside>,
    call: &str,
    conference: ConferenceId,
    role: Role,
    number: String,
    index: String,
    locked: Arc<AtomicBool>,
) -> Result<(ParticipantId, Addr<Room>, Role), JoinOutcome> {
    let room = rooms
        .open(&*services.store, conference)
        .await
        .map_err(|_| JoinOutcome::Failed)?;
    let masked = mask_number(&number);
    let name = match services.store.contact_name(conference, &index).await {
        Ok(Some(name)) => name,
        _ => masked.clone(),
    };
    let id = ParticipantId::new();
    let (link, queue, close) = Link::new(QUEUE_CAPACITY);
    let newcomer = Newcomer {
        id,
        name,
        role,
        owner: false,
        endpoint: Endpoint::Phone { number, masked },
        identities: vec![Identity::Phone(index)],
    };
    match room.send(Connect { newcomer, link }).await {
        Ok(Ok(())) => {}
        Ok(Err(RoomError::Locked)) => return Err(JoinOutcome::Locked),
        Ok(Err(RoomError::Blocked)) => return Err(JoinOutcome::Blocked),
        Ok(Err(RoomError::RoomFull)) => return Err(JoinOutcome::Full),
        _ => return Err(JoinOutcome::Failed),
    }
    tracing::info!(%conference, participant = %id, role = %role, "caller joined");
    actix_web::rt::spawn(relay(id, call.to_owned(), queue, close, tx.clone(), locked));
    Ok((id, room, role))
}

/// Follows the room for one seated caller: keeps the lock state for `*5`,
/// passes role changes to the IVR, and hangs up when the room closes the seat.
async fn relay(
    me: ParticipantId,
    call: String,
    mut queue: mpsc::Receiver<Arc<ToClient>>,
    mut close: tokio::sync::oneshot::Receiver<conclave_actors::view::CloseReason>,
    tx: mpsc::Sender<Aside>,
    locked: Arc<AtomicBool>,
) {
    loop {
        tokio::select! {
            message = queue.recv() => match message.as_deref() {
                Some(ToClient::Snapshot(s)) => locked.store(s.locked, Ordering::SeqCst),
                Some(ToClient::Locked { .. }) => locked.store(true, Ordering::SeqCst),
                Some(ToClient::Unlocked { .. }) => locked.store(false, Ordering::SeqCst),
                Some(ToClient::RoleChanged { target, role, .. }) if *target == me => {
                    let _ = tx.send(Aside::RoleChanged { call: call.clone(), role: *role }).await;
                }
                Some(ToClient::Closed(reason)) => {
                    let _ = tx.send(Aside::Closed { call, reason: reason.as_str() }).await;
                    return;
                }
                Some(_) => {}
                None => {
                    let _ = tx.send(Aside::Closed { call, reason: "room_closed" }).await;
                    return;
                }
            },
            reason = &mut close => {
                let reason = reason.map_or("room_closed", |r| r.as_str());
                let _ = tx.send(Aside::Closed { call, reason }).await;
                return;
            }
        }
    }
}
