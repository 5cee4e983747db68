//! One participant's WebSocket connection (`GET /ws`), on actix-ws (see
//! docs/websocket.md). The first request must be `join`; its credentials go
//! through the same `resolve()` as the REST join check, with the same
//! throttling. Once seated, requests become room commands, the room's
//! messages come through the participant's bounded queue, and a heartbeat
//! closes idle connections. The task never awaits anything that could wait
//! for it: the room only ever `try_send`s into the queue.

use std::time::{Duration, Instant};

use actix::Addr;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason};
use conclave_actors::registry::FindRoom;
use conclave_actors::room::{Applied, Apply, Connect, ConnectionLost, Link, Reconnect, Room};
use conclave_actors::room_state::{
    Audience, Command, Endpoint, Identity, Newcomer, Permission, Reply, RoomError,
};
use conclave_actors::view::{CloseReason as RoomCloseReason, ToClient};
use conclave_actors::{BlockId, ConferenceId, DocumentId, MessageId, ParticipantId, Role};
use serde_json::json;

use super::encode;
use super::protocol::{
    decode, AudienceName, ClientMessage, DecodeError, PermissionName, Request, MAX_FRAME_BYTES,
};
use crate::codes::{Credentials, Refusal};
use crate::error::AppError;
use crate::http::auth::client_address;
use crate::rooms::{OpenError, Rooms};
use crate::services::Services;
use crate::throttle::ThrottleKey;

/// Messages a participant's queue holds before it counts as too slow.
pub const QUEUE_CAPACITY: usize = 256;
/// How long a new connection has to send `join`.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Pings go out this often; a connection silent for `IDLE_TIMEOUT` is closed.
const HEARTBEAT: Duration = Duration::from_secs(10);
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a single write may wait for the client's socket.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests per second a connection may send (a token bucket of this size).
const RATE_PER_SEC: f64 = 20.0;
const RATE_BURST: f64 = 40.0;

pub async fn endpoint(
    req: HttpRequest,
    body: web::Payload,
    services: web::Data<Services>,
    rooms: web::Data<Rooms>,
) -> Result<HttpResponse, actix_web::Error> {
    // Browsers always send Origin; a client that sends none is not a browser
    // page and cannot be hijacked through one.
    if let Some(origin) = req.headers().get("origin") {
        let allowed = origin
            .to_str()
            .is_ok_and(|o| rooms.origins.iter().any(|a| a == o));
        if !allowed {
            return Err(AppError::Http {
                status: actix_web::http::StatusCode::FORBIDDEN,
                code: "origin_not_allowed",
                title: "this origin may not open a WebSocket here".into(),
            }
            .into());
        }
    }
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let stream = stream
        .max_frame_size(MAX_FRAME_BYTES)
        .aggregate_continuations()
        .max_continuation_size(MAX_FRAME_BYTES);
    let client = client_address(&req);
    actix_web::rt::spawn(async move {
        let mut conn = Conn {
            session,
            stream,
            services,
            rooms,
            client,
            last_seen: Instant::now(),
            tokens: RATE_BURST,
            refilled: Instant::now(),
        };
        let reason = conn.run().await;
        let _ = tokio::time::timeout(SEND_TIMEOUT, conn.session.close(Some(reason))).await;
    });
    Ok(response)
}

struct Conn {
    session: actix_ws::Session,
    stream: actix_ws::AggregatedMessageStream,
    services: web::Data<Services>,
    rooms: web::Data<Rooms>,
    client: String,
    last_seen: Instant,
    tokens: f64,
    refilled: Instant,
}

/// A seated participant.
struct Seated {
    id: ParticipantId,
    room: Addr<Room>,
    queue: tokio::sync::mpsc::Receiver<std::sync::Arc<ToClient>>,
    close: tokio::sync::oneshot::Receiver<conclave_actors::view::CloseReason>,
}

enum Incoming {
    Request(Request),
    /// Answered already (a user error); keep going.
    Handled,
    Closed(CloseReason),
}

fn close(code: CloseCode, reason: &str) -> CloseReason {
    CloseReason {
        code,
        description: Some(reason.to_owned()),
    }
}

impl Conn {
    async fn run(&mut self) -> CloseReason {
        let deadline = tokio::time::Instant::now() + JOIN_TIMEOUT;
        let mut seated = loop {
            let next = tokio::time::timeout_at(deadline, self.next_request()).await;
            let request = match next {
                Err(_) => return close(CloseCode::Policy, "join_timeout"),
                Ok(Incoming::Closed(r)) => return r,
                Ok(Incoming::Handled) => continue,
                Ok(Incoming::Request(r)) => r,
            };
            match self.join(request).await {
                Ok(Some(seated)) => break seated,
                Ok(None) => continue,
                Err(reason) => return reason,
            }
        };
        let reason = self.serve(&mut seated).await;
        seated.room.do_send(ConnectionLost { id: seated.id });
        reason
    }

    /// The next request, after heartbeat, size, framing and rate checks.
    async fn next_request(&mut self) -> Incoming {
        loop {
            let Some(frame) = self.stream.recv().await else {
                return Incoming::Closed(close(CloseCode::Normal, "gone"));
            };
            self.last_seen = Instant::now();
            match frame {
                Ok(AggregatedMessage::Text(text)) => return self.request(&text).await,
                Ok(AggregatedMessage::Ping(p)) => {
                    let _ = self.session.pong(&p).await;
                }
                Ok(AggregatedMessage::Pong(_)) => {}
                Ok(AggregatedMessage::Binary(_)) => {
                    return Incoming::Closed(close(
                        CloseCode::Unsupported,
                        "binary_frames_not_supported",
                    ))
                }
                Ok(AggregatedMessage::Close(_)) => {
                    return Incoming::Closed(close(CloseCode::Normal, "bye"))
                }
                Err(_) => {
                    return Incoming::Closed(close(
                        CloseCode::Policy,
                        "frame_too_large_or_malformed",
                    ))
                }
            }
        }
    }

    async fn request(&mut self, text: &str) -> Incoming {
        let now = Instant::now();
        self.tokens = (self.tokens
            + now.duration_since(self.refilled).as_secs_f64() * RATE_PER_SEC)
            .min(RATE_BURST);
        self.refilled = now;
        match decode(text) {
            Err(DecodeError::Violation(why)) => Incoming::Closed(close(CloseCode::Policy, why)),
            Err(DecodeError::Invalid { id, code, detail }) => {
                self.send(&encode::error(Some(&id), code, &detail)).await;
                Incoming::Handled
            }
            Ok(r) if self.tokens < 1.0 => {
                self.send(&encode::error(
                    Some(&r.id),
                    "rate_limited",
                    "too many requests; slow down",
                ))
                .await;
                Incoming::Handled
            }
            Ok(r) => {
                self.tokens -= 1.0;
                Incoming::Request(r)
            }
        }
    }

    /// Writes one message. A client whose socket accepts nothing for
    /// `SEND_TIMEOUT` counts as gone, so a task can never hang on it.
    async fn send(&mut self, value: &serde_json::Value) -> bool {
        let write = self.session.text(value.to_string());
        matches!(tokio::time::timeout(SEND_TIMEOUT, write).await, Ok(Ok(())))
    }

    /// Handles a request before joining: only `join` and `ping` are allowed.
    async fn join(&mut self, r: Request) -> Result<Option<Seated>, CloseReason> {
        let ClientMessage::Join {
            access_code,
            security_code,
            moderator_pin,
            name,
            device_token,
            resume_token,
            account_token,
        } = r.body
        else {
            if let ClientMessage::Ping {} = r.body {
                self.send(&json!({"type": "pong", "id": r.id})).await;
            } else {
                self.send(&encode::error(
                    Some(&r.id),
                    "join_first",
                    "send join before anything else",
                ))
                .await;
            }
            return Ok(None);
        };
        if let Some(token) = resume_token {
            return self.resume(&r.id, &token).await;
        }
        // Signed in: who it is, before any code is checked (a bad token is
        // refused without spending a credential attempt).
        let account = match account_token {
            Some(token) => match self.services.authenticate(&token).await {
                Ok(account) => Some(account),
                Err(e) => {
                    self.send(&encode::error(
                        Some(&r.id),
                        e.code(),
                        "sign in again: the account token is not valid",
                    ))
                    .await;
                    return Ok(None);
                }
            },
            None => None,
        };
        let creds = Credentials {
            access_code,
            security_code,
            moderator_pin,
        };
        let admission = match self
            .services
            .resolve(&creds, ThrottleKey::Address(self.client.clone()))
            .await
        {
            Ok(a) => a,
            Err(refusal) => {
                self.send(&encode::error(
                    Some(&r.id),
                    refusal.code(),
                    &refusal.to_string(),
                ))
                .await;
                return match refusal {
                    Refusal::Throttled { .. } => Err(close(CloseCode::Policy, "throttled")),
                    _ => Ok(None),
                };
            }
        };
        // The device credential: kept by the client, presented at each join,
        // known to the room only by its hash, so a block can bar the device.
        let device_token = device_token
            .filter(|t| {
                t.len() == 43
                    && t.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
            .unwrap_or_else(crate::crypto::new_token);
        let device = hex::encode(crate::crypto::token_hash(&device_token));
        let id = ParticipantId::new();
        let owner = account
            .as_ref()
            .is_some_and(|a| a.id == admission.account_id);
        let mut identities = vec![Identity::Device(device)];
        if let Some(a) = &account {
            identities.push(Identity::Account(a.id));
        }
        // The owner needs no PIN: their conference, their chair.
        let role = if owner {
            Role::Moderator
        } else {
            admission.role
        };
        let newcomer = Newcomer {
            id,
            name,
            role,
            owner,
            endpoint: Endpoint::Web,
            identities,
        };
        let identities = newcomer.identities.clone();
        let room = match self.open_room(admission.conference_id).await {
            Ok(room) => room,
            Err(Some(reason)) => return Err(reason),
            Err(None) => {
                self.send(&encode::error(
                    Some(&r.id),
                    "unavailable",
                    "the conference cannot be opened right now; try again shortly",
                ))
                .await;
                return Ok(None);
            }
        };
        let (link, queue, close_rx) = Link::new(QUEUE_CAPACITY);
        match room.send(Connect { newcomer, link }).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                self.send(&encode::error(Some(&r.id), e.code(), &e.to_string()))
                    .await;
                return Ok(None);
            }
            Err(_) => {
                self.send(&encode::error(
                    Some(&r.id),
                    "unavailable",
                    "the room is restarting; join again",
                ))
                .await;
                return Ok(None);
            }
        }
        tracing::info!(conference = %admission.conference_id, participant = %id, %role, owner, "joined");
        let resume_token = self
            .rooms
            .tickets
            .issue(admission.conference_id, id, identities);
        self.send(&json!({
            "type": "joined", "id": r.id, "participant": id.to_string(), "role": role.as_str(), "owner": owner,
            "conference": admission.conference_id.0.to_string(), "title": admission.title,
            "device_token": device_token, "resume_token": resume_token,
        }))
        .await;
        Ok(Some(Seated {
            id,
            room,
            queue,
            close: close_rx,
        }))
    }

    /// The conference's live room; `Err(None)` when it cannot be opened
    /// now (its durable state is unreadable).
    async fn open_room(&self, conference: ConferenceId) -> Result<Addr<Room>, Option<CloseReason>> {
        self.rooms
            .open(&*self.services.store, conference)
            .await
            .map_err(|e| match e {
                OpenError::ShuttingDown => Some(close(CloseCode::Error, "server_shutting_down")),
                OpenError::Unavailable => None,
            })
    }

    /// Takes a seat back with a resume token. Codes are not checked again:
    /// whoever was admitted stays admitted (a reset code only refuses new
    /// joins), unless the room removed or blocked them meanwhile.
    async fn resume(&mut self, request: &str, token: &str) -> Result<Option<Seated>, CloseReason> {
        let refuse = |code: &str| {
            encode::error(
                Some(request),
                code,
                "that seat cannot be taken back; join again",
            )
        };
        let Some(ticket) = self.rooms.tickets.find(token) else {
            self.send(&refuse("invalid_resume_token")).await;
            return Ok(None);
        };
        let room = match self
            .rooms
            .registry
            .send(FindRoom {
                conference: ticket.conference,
            })
            .await
        {
            Ok(Some(room)) => room,
            Ok(None) => {
                self.send(&refuse("not_in_room")).await;
                return Ok(None);
            }
            Err(_) => return Err(close(CloseCode::Error, "server_shutting_down")),
        };
        let (link, queue, close_rx) = Link::new(QUEUE_CAPACITY);
        let id = ticket.participant;
        match room
            .send(Reconnect {
                id,
                identities: ticket.identities,
                link,
            })
            .await
        {
            Ok(Ok(role)) => {
                tracing::info!(conference = %ticket.conference, participant = %id, "resumed");
                self.send(&json!({
                    "type": "joined", "id": request, "participant": id.to_string(), "role": role.as_str(),
                    "conference": ticket.conference.0.to_string(), "resumed": true, "resume_token": token,
                }))
                .await;
                Ok(Some(Seated {
                    id,
                    room,
                    queue,
                    close: close_rx,
                }))
            }
            Ok(Err(e)) => {
                self.send(&encode::error(Some(request), e.code(), &e.to_string()))
                    .await;
                Ok(None)
            }
            Err(_) => {
                self.send(&refuse("not_in_room")).await;
                Ok(None)
            }
        }
    }

    async fn serve(&mut self, seated: &mut Seated) -> CloseReason {
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        loop {
            tokio::select! {
                message = seated.queue.recv() => match message.as_deref() {
                    Some(m @ ToClient::Closed(reason)) => {
                        self.send(&encode::to_client(m)).await;
                        return close(CloseCode::Normal, reason.as_str());
                    }
                    Some(m) => {
                        if !self.send(&encode::to_client(m)).await {
                            return close(CloseCode::Normal, "gone");
                        }
                    }
                    None => return close(CloseCode::Away, "room_closed"),
                },
                reason = &mut seated.close => {
                    let reason = reason.unwrap_or(RoomCloseReason::RoomClosed);
                    // The room queues its last words before it signals; deliver
                    // them, unless the queue is the problem (slow consumer).
                    if reason != RoomCloseReason::SlowConsumer {
                        while let Ok(m) = seated.queue.try_recv() {
                            self.send(&encode::to_client(&m)).await;
                        }
                    }
                    return close(CloseCode::Policy, reason.as_str());
                }
                incoming = self.next_request() => match incoming {
                    Incoming::Closed(r) => return r,
                    Incoming::Handled => {}
                    Incoming::Request(r) => {
                        if let Some(reason) = self.command(seated, r).await {
                            return reason;
                        }
                    }
                },
                _ = heartbeat.tick() => {
                    if self.last_seen.elapsed() > IDLE_TIMEOUT {
                        return close(CloseCode::Away, "idle_timeout");
                    }
                    let _ = self.session.ping(b"").await;
                }
            }
        }
    }

    /// Carries out one request of a seated participant; `Some` closes.
    async fn command(&mut self, seated: &Seated, r: Request) -> Option<CloseReason> {
        let by = seated.id;
        let command = match r.body {
            ClientMessage::Ping {} => {
                self.send(&json!({"type": "pong", "id": r.id})).await;
                return None;
            }
            ClientMessage::Join { .. } => {
                self.send(&encode::error(
                    Some(&r.id),
                    "already_joined",
                    "this connection is already in a room",
                ))
                .await;
                return None;
            }
            ClientMessage::Leave {} => Command::Leave { id: by },
            ClientMessage::Lock {} => Command::Lock { by },
            ClientMessage::Unlock {} => Command::Unlock { by },
            ClientMessage::Remove { participant, block } => Command::Remove {
                by,
                target: ParticipantId(participant),
                block,
            },
            ClientMessage::ListBlocks {} => Command::ListBlocks { by },
            ClientMessage::Unblock { block } => Command::Unblock {
                by,
                block: BlockId(block),
            },
            ClientMessage::SetPermission {
                permission,
                audience,
            } => Command::SetPermission {
                by,
                permission: match permission {
                    PermissionName::Chat => Permission::Chat,
                    PermissionName::Share => Permission::Share,
                },
                audience: match audience {
                    AudienceName::Everyone => Audience::Everyone,
                    AudienceName::Moderators => Audience::Moderators,
                },
            },
            ClientMessage::Mute { participant, muted } => Command::Mute {
                by,
                target: ParticipantId(participant),
                muted,
            },
            ClientMessage::Promote { participant } => Command::Promote {
                by,
                target: ParticipantId(participant),
            },
            ClientMessage::Demote { participant } => Command::Demote {
                by,
                target: ParticipantId(participant),
            },
            ClientMessage::NameCaller { participant, name } => Command::NameCaller {
                by,
                target: ParticipantId(participant),
                name,
            },
            ClientMessage::Chat { text } => Command::Chat {
                by,
                id: MessageId::new(),
                text,
            },
            ClientMessage::DeleteChat { message } => Command::DeleteChat {
                by,
                message: MessageId(message),
            },
            ClientMessage::RemoveDocument { document } => Command::RemoveDocument {
                by,
                document: DocumentId(document),
            },
            ClientMessage::StartRecording {} => Command::StartRecording { by },
            ClientMessage::StopRecording {} => Command::StopRecording { by },
        };
        let leaving = matches!(command, Command::Leave { .. });
        let answer = match seated.room.send(Apply(command)).await {
            Ok(Ok(Applied {
                reply: Reply::Ok,
                commit: Some(seq),
            })) => {
                // Durable state: acknowledged once committed (or once the
                // wait runs out, saying so). Awaited aside, so the room's
                // messages keep flowing meanwhile.
                let (session, persistence, wait) = (
                    self.session.clone(),
                    self.rooms.persistence.clone(),
                    self.rooms.ack_wait,
                );
                actix_web::rt::spawn(async move {
                    let durable = persistence.committed(seq, wait).await;
                    let mut ack = encode::ack(&r.id);
                    ack["durable"] = json!(durable);
                    let _ =
                        tokio::time::timeout(SEND_TIMEOUT, session.clone().text(ack.to_string()))
                            .await;
                });
                return leaving.then(|| close(CloseCode::Normal, "left"));
            }
            Ok(Ok(Applied {
                reply: Reply::Ok | Reply::Document(_),
                ..
            })) => encode::ack(&r.id),
            Ok(Ok(Applied {
                reply: Reply::Blocks(blocks),
                ..
            })) => {
                json!({"type": "blocks", "id": r.id, "blocks": blocks.iter().map(encode::block).collect::<Vec<_>>()})
            }
            Ok(Err(e)) => encode::error(Some(&r.id), e.code(), &e.to_string()),
            Err(_) => encode::error(Some(&r.id), RoomError::Internal.code(), "the room is gone"),
        };
        self.send(&answer).await;
        leaving.then(|| close(CloseCode::Normal, "left"))
    }
}
