//! The WebSocket endpoint (`GET /ws`, on actix-ws: see docs/websocket.md)
//! and what answering a request takes. The endpoint checks the origin and
//! starts a [`Participant`](super::participant::Participant) actor per
//! connection. The first request must be `join`; its credentials go through
//! the same `resolve()` as the REST join check, with the same throttling,
//! unless a signed-in owner names their own conference (`super::admit`).
//! Once seated, requests become room commands ([`Gate::command`]).

mod decoy;
mod reseat;
mod token;

use std::time::Duration;

use actix::Addr;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{CloseCode, CloseReason};
use conclave_actors::media::{ClientSignal, PcKind, TrackSource};
use conclave_actors::room::{Applied, Apply, Connect, Entered, Link, Room, Signal};
use conclave_actors::room_state::{
    Audience, Command, Endpoint, Identity, Newcomer, Permission, Reply, RoomError, WaitingRoom,
};
use conclave_actors::view::Outgoing;
use conclave_actors::{
    AccountId, BlockId, ConferenceId, DocumentId, MessageId, ParticipantId, Role,
};
use serde_json::json;

use super::admit::{door, Door};
use super::encode;
use super::protocol::{
    AudienceName, ClientMessage, PcName, PermissionName, Request, SourceName, WaitingRoomName,
    MAX_FRAME_BYTES,
};
use crate::codes::{Admission, Refusal};
use crate::error::AppError;
use crate::http::auth::client_address;
use crate::rooms::{OpenError, Rooms};
use crate::services::Services;
use crate::throttle::ThrottleKey;

/// Messages a participant's queue holds before it counts as too slow.
pub const QUEUE_CAPACITY: usize = 256;
/// How long a new connection has to send `join`.
pub(super) const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Pings go out this often; a connection silent for `IDLE_TIMEOUT` is closed.
pub(super) const HEARTBEAT: Duration = Duration::from_secs(10);
pub(super) const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a single write may wait for the client's socket.
pub(super) const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests per second a connection may send (a token bucket of this size).
pub(super) const RATE_PER_SEC: f64 = 20.0;
pub(super) const RATE_BURST: f64 = 40.0;

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
    let (mut response, session, stream) = actix_ws::handle(&req, body)?;
    // A browser's device credential is its cookie (crate::device); one
    // that comes without is given one here, in case it never loaded `/`.
    let device = match crate::device::from_request(&req) {
        Some(token) => token,
        None => {
            let token = crate::crypto::new_token();
            let _ = response.add_cookie(&crate::device::cookie(&token, rooms.secure_cookies));
            token
        }
    };
    let stream = stream
        .max_frame_size(MAX_FRAME_BYTES)
        .aggregate_continuations()
        .max_continuation_size(MAX_FRAME_BYTES);
    let gate = Gate {
        session,
        services,
        rooms,
        client: client_address(&req),
        device,
    };
    super::participant::Participant::start_with(gate, stream);
    Ok(response)
}

/// What a connection's requests need, cheap to clone into the futures that
/// answer them: the socket's writing half, the services and the rooms. The
/// [`Participant`](super::participant::Participant) actor runs one such
/// future at a time, so answers leave in request order.
#[derive(Clone)]
pub(super) struct Gate {
    pub(super) session: actix_ws::Session,
    services: web::Data<Services>,
    rooms: web::Data<Rooms>,
    client: String,
    /// The connection's device token: its cookie's, or the one just set.
    device: String,
}

/// What a join led to.
pub(super) enum Entry {
    Seated(Seated),
    /// Seems to wait (a deflected join): see `decoy.rs`.
    Decoy,
}

/// A seat just taken: the room, and the participant's ends of its link.
pub(super) struct Seated {
    pub(super) id: ParticipantId,
    pub(super) room: Addr<Room>,
    pub(super) queue: tokio::sync::mpsc::Receiver<std::sync::Arc<Outgoing>>,
    pub(super) close: tokio::sync::oneshot::Receiver<conclave_actors::view::CloseReason>,
    /// Waiting for a moderator: the `joined` to send once admitted.
    pub(super) admitted: Option<serde_json::Value>,
}

pub(super) fn close(code: CloseCode, reason: &str) -> CloseReason {
    CloseReason {
        code,
        description: Some(reason.to_owned()),
    }
}

impl Gate {
    /// Resolves to `true` once the server begins to stop.
    pub(super) fn shutdown(&self) -> tokio::sync::watch::Receiver<bool> {
        self.rooms.shutdown.clone()
    }

    /// The longest anyone waits at a room's door.
    pub(super) fn max_wait(&self) -> Duration {
        self.rooms.max_wait
    }

    /// The STUN/TURN servers participant `user` should gather with: the
    /// configured ones, then the coturn server with a credential of its own.
    fn ice_servers(&self, user: ParticipantId) -> serde_json::Value {
        let Some(media) = self.rooms.media.as_ref() else {
            return serde_json::json!([]);
        };
        let mut servers = media.config().ice_servers.clone();
        if let Some(turn) = &self.rooms.turn {
            servers.push(turn.credential(&user.to_string(), chrono::Utc::now().timestamp()));
        }
        serde_json::to_value(servers).unwrap_or_default()
    }

    /// Writes one message. A client whose socket accepts nothing for
    /// `SEND_TIMEOUT` counts as gone, so a task can never hang on it.
    pub(super) async fn send(&mut self, value: &serde_json::Value) -> bool {
        self.send_text(value.to_string()).await
    }

    pub(super) async fn send_text(&mut self, text: String) -> bool {
        self.deliver(text).await.is_ok()
    }

    /// Writes one message; on failure, the reason to close with: a socket
    /// that accepted nothing for `SEND_TIMEOUT` is a slow consumer (its
    /// queue in the room may not have filled yet), one that failed is gone.
    pub(super) async fn deliver(&mut self, text: String) -> Result<(), &'static str> {
        match tokio::time::timeout(SEND_TIMEOUT, self.session.text(text)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err("gone"),
            Err(_) => Err("slow_consumer"),
        }
    }

    /// Handles a request before joining: only `join` and `ping` are allowed.
    pub(super) async fn join(&mut self, r: Request) -> Result<Option<Entry>, CloseReason> {
        let ClientMessage::Join {
            access_code,
            conference,
            security_code,
            moderator_pin,
            name,
            device_token,
            resume_token,
            account_token,
            join_token,
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
            return Ok(self.resume(&r.id, &token).await?.map(Entry::Seated));
        }
        if let Some(token) = join_token {
            let device_token = device_token
                .filter(|t| crate::device::is_token(t))
                .unwrap_or_else(|| self.device.clone());
            return match self.token_admission(&token).await {
                Ok((admission, identity, name)) => {
                    self.seat(&r.id, admission, name, device_token, None, vec![identity])
                        .await
                }
                Err((code, message)) => {
                    self.send(&encode::error(Some(&r.id), code, &message)).await;
                    Ok(None)
                }
            };
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
        let signed_in = account.is_some();
        let door = match door(
            access_code,
            conference,
            security_code,
            moderator_pin,
            signed_in,
        ) {
            Ok(door) => door,
            Err((code, message)) => {
                self.send(&encode::error(Some(&r.id), code, message)).await;
                return Ok(None);
            }
        };
        let admitted = match (door, &account) {
            (Door::Owner(id), Some(account)) => self.services.admit_owner(account, id).await,
            (Door::Code(creds), _) => {
                let client = ThrottleKey::Address(self.client.clone());
                self.services.resolve(&creds, client).await
            }
            (Door::Owner(_), None) => Err(Refusal::InvalidCredentials),
        };
        // The device credential (crate::device): the one the join names,
        // else the connection's cookie. Known to the room only by its hash.
        let device_token = device_token
            .filter(|t| crate::device::is_token(t))
            .unwrap_or_else(|| self.device.clone());
        let admission = match admitted {
            Ok(a) => a,
            Err(Refusal::Deflected { conference, .. }) => {
                self.deflect(&r.id, conference, &device_token).await;
                return Ok(Some(Entry::Decoy));
            }
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
        let account = account.as_ref().map(|a| a.id);
        self.seat(
            &r.id,
            admission,
            name.unwrap_or_default(),
            device_token,
            account,
            vec![],
        )
        .await
    }

    /// Seats (or queues) an admitted newcomer: the room, its `joined` or
    /// `waiting` answer, and the link the connection then serves.
    pub(super) async fn seat(
        &mut self,
        request: &str,
        admission: Admission,
        name: String,
        device_token: String,
        account: Option<AccountId>,
        extra: Vec<Identity>,
    ) -> Result<Option<Entry>, CloseReason> {
        let device = hex::encode(crate::crypto::token_hash(&device_token));
        let id = ParticipantId::new();
        let owner = account == Some(admission.account_id);
        let mut identities = vec![Identity::Device(device)];
        identities.extend(account.map(Identity::Account));
        identities.extend(extra);
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
            hold: admission.held.is_some(),
            origin: Some(self.client.clone()),
        };
        let identities = newcomer.identities.clone();
        let room = match self.open_room(admission.conference_id).await {
            Ok(room) => room,
            Err(Some(reason)) => return Err(reason),
            Err(None) => {
                self.send(&encode::error(
                    Some(request),
                    "unavailable",
                    "the conference cannot be opened right now; try again shortly",
                ))
                .await;
                return Ok(None);
            }
        };
        let (link, queue, close_rx) = Link::new(QUEUE_CAPACITY);
        let entered = match room.send(Connect { newcomer, link }).await {
            Ok(Ok(entered)) => entered,
            Ok(Err(e)) => {
                self.send(&encode::error(Some(request), e.code(), &e.to_string()))
                    .await;
                return Ok(None);
            }
            Err(_) => {
                self.send(&encode::error(
                    Some(request),
                    "unavailable",
                    "the room is restarting; join again",
                ))
                .await;
                return Ok(None);
            }
        };
        let resume_token = self
            .rooms
            .tickets
            .issue(admission.conference_id, id, identities);
        let mut joined = json!({
            "type": "joined", "id": request, "participant": id.to_string(), "role": role.as_str(), "owner": owner,
            "conference": admission.conference_id.0.to_string(), "title": admission.title,
            "device_token": device_token, "resume_token": resume_token,
            "ice_servers": self.ice_servers(id),
        });
        let admitted = if entered == Entered::Waiting {
            tracing::info!(conference = %admission.conference_id, participant = %id, held = admission.held.is_some(), "waiting");
            self.send(&json!({
                "type": "waiting", "id": request, "participant": id.to_string(),
                "conference": admission.conference_id.0.to_string(), "title": admission.title,
                "device_token": device_token,
            }))
            .await;
            // Sent when a moderator admits them: not an answer any more.
            joined["id"] = serde_json::Value::Null;
            Some(joined)
        } else {
            tracing::info!(conference = %admission.conference_id, participant = %id, %role, owner, "joined");
            self.send(&joined).await;
            None
        };
        Ok(Some(Entry::Seated(Seated {
            id,
            room,
            queue,
            close: close_rx,
            admitted,
        })))
    }

    /// The conference's live room; `Err(None)` when it cannot be opened
    /// now (its durable state is unreadable).
    async fn open_room(&self, conference: ConferenceId) -> Result<Addr<Room>, Option<CloseReason>> {
        self.rooms
            .open(&*self.services.store, conference)
            .await
            .map_err(|e| match e {
                OpenError::ShuttingDown => Some(close(CloseCode::Away, "server_shutdown")),
                OpenError::Unavailable => None,
            })
    }

    /// Carries out one request of a seated participant; `Some` closes.
    pub(super) async fn command(
        &mut self,
        by: ParticipantId,
        room: Addr<Room>,
        r: Request,
    ) -> Option<CloseReason> {
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
            ClientMessage::Admit { participant } => Command::Admit {
                by,
                target: ParticipantId(participant),
            },
            ClientMessage::Deny { participant } => Command::Deny {
                by,
                target: ParticipantId(participant),
            },
            ClientMessage::AdmitAll {} => Command::AdmitAll { by },
            ClientMessage::SetWaitingRoom { setting } => Command::SetWaitingRoom {
                by,
                setting: match setting {
                    WaitingRoomName::Off => WaitingRoom::Off,
                    WaitingRoomName::Everyone => WaitingRoom::Everyone,
                    WaitingRoomName::UnknownGuests => WaitingRoom::UnknownGuests,
                },
            },
            ClientMessage::StartRecording {} => Command::StartRecording { by },
            ClientMessage::StopRecording {} => Command::StopRecording { by },
            ClientMessage::MediaOffer { pc, sdp, tracks } => {
                let tracks = tracks.into_iter().map(|(id, s)| (id, source(s))).collect();
                let signal = ClientSignal::Offer {
                    pc: pc_kind(pc),
                    sdp,
                    tracks,
                };
                return self.signal(by, room, &r.id, signal).await;
            }
            ClientMessage::MediaAnswer { pc, sdp } => {
                let signal = ClientSignal::Answer {
                    pc: pc_kind(pc),
                    sdp,
                };
                return self.signal(by, room, &r.id, signal).await;
            }
            ClientMessage::MediaWatch {
                participant,
                source: s,
                visible,
                height,
            } => {
                let signal = ClientSignal::Watch {
                    publisher: ParticipantId(participant),
                    source: source(s),
                    visible,
                    height,
                };
                return self.signal(by, room, &r.id, signal).await;
            }
            ClientMessage::MediaCandidate { pc, candidate } => {
                let signal = ClientSignal::Candidate {
                    pc: pc_kind(pc),
                    candidate: candidate.to_string(),
                };
                return self.signal(by, room, &r.id, signal).await;
            }
        };
        let leaving = matches!(command, Command::Leave { .. });
        let answer = match room.send(Apply(command)).await {
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
                reply: Reply::Ok | Reply::Document(_) | Reply::Waiting,
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

    /// Media signalling: the room checks and routes it; acknowledged once
    /// routed (answers and candidates follow as their own messages).
    async fn signal(
        &mut self,
        by: ParticipantId,
        room: Addr<Room>,
        request: &str,
        signal: ClientSignal,
    ) -> Option<CloseReason> {
        if self.rooms.media.is_none() && signal.pc() != PcKind::Peer {
            self.send(&encode::error(
                Some(request),
                "media_disabled",
                "this server carries no media",
            ))
            .await;
            return None;
        }
        let answer = match room.send(Signal { by, signal }).await {
            Ok(Ok(())) => encode::ack(request),
            Ok(Err(e)) => encode::error(Some(request), e.code(), &e.to_string()),
            Err(_) => encode::error(
                Some(request),
                RoomError::Internal.code(),
                "the room is gone",
            ),
        };
        self.send(&answer).await;
        None
    }
}

fn pc_kind(pc: PcName) -> PcKind {
    match pc {
        PcName::Publish => PcKind::Publish,
        PcName::Subscribe => PcKind::Subscribe,
        PcName::Peer => PcKind::Peer,
    }
}

fn source(s: SourceName) -> TrackSource {
    match s {
        SourceName::Microphone => TrackSource::Microphone,
        SourceName::Camera => TrackSource::Camera,
        SourceName::Screen => TrackSource::Screen,
    }
}
