//! The `PhoneLeg` actor: one per call the gateway carries. It runs the
//! call's [`Ivr`], checks credentials and takes the caller's seat through
//! futures whose results it feeds back to the IVR, and follows the room
//! through its bounded queue (the lock state for `*5`, role changes, being
//! removed). What the gateway must play or do leaves through the gateway
//! connection's outbound channel; the leg never waits on it.
//!
//! Talks to: the gateway connection (keys and hang-ups in, frames out), its
//! room (join, lock, leave), the services (credential checks, contacts).

use std::sync::Arc;

use actix::prelude::*;
use actix_web::web;
use conclave_actors::media::PhoneAudio;
use conclave_actors::room::{Apply, Connect, ConnectionLost, Entered, Link, PhoneMedia, Room};
use conclave_actors::room_state::{Command, Endpoint, Identity, Newcomer, RoomError};
use conclave_actors::view::{CloseReason, Outgoing, ToClient};
use conclave_actors::{ConferenceId, ParticipantId, Role};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::guard::{self, CallKeys};
use super::ivr::{Action, Checked, Entry, Input, Ivr, JoinOutcome, Prompt};
use super::mask_number;
use crate::codes::{Credentials, Refusal};
use crate::rooms::Rooms;
use crate::services::Services;

/// A seated caller's room queue; a phone leg acts on few messages.
const QUEUE_CAPACITY: usize = 256;

/// What a leg hands the gateway connection.
pub enum Outbound {
    Frame(Value),
    /// The call is over; forget it.
    Ended(String),
}

/// Keys the caller pressed, in order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Keys(pub String);

/// The caller hung up.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CallerHungUp;

/// The gateway connection is gone: the seat waits for its grace, as for
/// any lost connection.
#[derive(Message)]
#[rtype(result = "()")]
pub struct GatewayLost;

struct FromRoom(Arc<Outgoing>);

/// What the last credential check means for joining.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Door {
    Open,
    /// The conference's failure limit is reached: wait for a moderator.
    Held,
    /// A wrong security code while held: seem to wait (docs/codes.md).
    Deflected,
}

pub struct PhoneLeg {
    call: String,
    number: String,
    /// Keyed hash of the number: the identity blocks and contacts use.
    index: String,
    /// The gateway connection carrying the call.
    connection: u64,
    ivr: Ivr,
    seat: Option<(ParticipantId, Addr<Room>)>,
    /// How the last credential check left the door.
    door: Door,
    locked: bool,
    services: web::Data<Services>,
    rooms: web::Data<Rooms>,
    out: mpsc::Sender<Outbound>,
    /// The call's audio (SIP calls; the gateway carries none).
    audio: Option<Arc<PhoneAudio>>,
    ended: bool,
}

impl PhoneLeg {
    pub fn new(
        call: String,
        number: String,
        connection: u64,
        services: web::Data<Services>,
        rooms: web::Data<Rooms>,
        out: mpsc::Sender<Outbound>,
    ) -> Self {
        let index = crate::crypto::phone_index(&services.secrets.hmac_key, &number);
        Self {
            call,
            number,
            index,
            connection,
            ivr: Ivr::new(),
            seat: None,
            door: Door::Open,
            locked: false,
            services,
            rooms,
            out,
            audio: None,
            ended: false,
        }
    }

    /// The call carries audio: the room's media plane takes it once the
    /// caller is seated.
    pub fn with_audio(mut self, audio: Arc<PhoneAudio>) -> Self {
        self.audio = Some(audio);
        self
    }

    fn frame(&mut self, value: Value, ctx: &mut Context<Self>) {
        // The gateway reads its channel all the time; one that cannot keep
        // up with prompts has lost this call.
        if self.out.try_send(Outbound::Frame(value)).is_err() {
            tracing::warn!("gateway outbound channel full; ending the call");
            self.end(None, ctx);
        }
    }

    fn prompt(&mut self, prompt: Prompt, ctx: &mut Context<Self>) {
        let call = self.call.clone();
        self.frame(
            json!({"type": "prompt", "call": call, "prompt": prompt.as_str()}),
            ctx,
        );
    }

    /// Ends the call: leaves the seat, tells the gateway to hang up (unless
    /// it told us), and stops.
    fn end(&mut self, reason: Option<&str>, ctx: &mut Context<Self>) {
        if self.ended {
            return;
        }
        self.ended = true;
        if let Some((id, room)) = self.seat.take() {
            room.do_send(Apply(Command::Leave { id }));
        }
        // Forgotten first, so that anything the gateway sends after it saw
        // the hang-up is answered `unknown_call`.
        let _ = self.out.try_send(Outbound::Ended(self.call.clone()));
        if let Some(reason) = reason {
            let _ = self.out.try_send(Outbound::Frame(
                json!({"type": "hangup", "call": self.call, "reason": reason}),
            ));
        }
        ctx.stop();
    }

    fn input(&mut self, input: Input, ctx: &mut Context<Self>) {
        let actions = self.ivr.handle(input);
        self.act(actions, ctx);
    }

    fn act(&mut self, actions: Vec<Action>, ctx: &mut Context<Self>) {
        for action in actions {
            if self.ended {
                return;
            }
            match action {
                Action::Play(prompt) => self.prompt(prompt, ctx),
                Action::Check(entry) => self.check(entry, ctx),
                Action::Join { conference, role } => self.join(conference, role, ctx),
                Action::ToggleLock => self.toggle_lock(ctx),
                Action::HangUp => self.end(Some("ivr"), ctx),
            }
        }
    }

    fn check(&mut self, entry: Entry, ctx: &mut Context<Self>) {
        let services = self.services.clone();
        let keys = CallKeys {
            caller: self.index.clone(),
            connection: self.connection,
        };
        let work = async move {
            let now = services.clock.now();
            if guard::before_check(&services.gateway_throttle, &entry, now).is_err() {
                services.metrics.gateway_code("ceiling");
                return (Checked::TryLater, Door::Open);
            }
            let creds = Credentials {
                access_code: entry.access_code.clone(),
                security_code: entry.security_code.clone(),
                moderator_pin: entry.moderator_pin.clone(),
            };
            let mut door = Door::Open;
            let checked = match services.resolve_for(&creds, keys.keys()).await {
                Ok(a) => {
                    if a.held.is_some() {
                        door = Door::Held;
                    }
                    Checked::Admitted {
                        conference: a.conference_id,
                        role: a.role,
                    }
                }
                // Answered as a right code is: the caller seems to wait.
                Err(Refusal::Deflected { conference, .. }) => {
                    door = Door::Deflected;
                    Checked::Admitted {
                        conference,
                        role: Role::Participant,
                    }
                }
                Err(Refusal::InvalidCredentials) => Checked::InvalidCredentials,
                Err(Refusal::SecurityCodeRequired) => Checked::SecurityCodeRequired,
                Err(Refusal::InvalidModeratorPin) => Checked::InvalidModeratorPin,
                Err(Refusal::Throttled { .. }) => {
                    services.metrics.gateway_code("throttled");
                    Checked::TryLater
                }
                Err(Refusal::Busy | Refusal::Unavailable) => Checked::TryLater,
            };
            if guard::after_check(&services.gateway_throttle, &entry, checked, now) {
                services.metrics.gateway_code("unknown");
            }
            (checked, door)
        };
        ctx.spawn(work.into_actor(self).map(|(checked, door), act, ctx| {
            act.door = door;
            act.input(Input::Checked(checked), ctx)
        }));
    }

    fn join(&mut self, conference: ConferenceId, role: Role, ctx: &mut Context<Self>) {
        let (services, rooms) = (self.services.clone(), self.rooms.clone());
        let (number, index) = (self.number.clone(), self.index.clone());
        let hold = self.door == Door::Held;
        if self.door == Door::Deflected {
            // Nobody sees this caller, and nobody can let them in.
            self.input(Input::Joined(JoinOutcome::Waiting), ctx);
            ctx.run_later(self.rooms.max_wait, |act, ctx| {
                act.end(Some("wait_expired"), ctx)
            });
            return;
        }
        let work = async move {
            let room = rooms
                .open(&*services.store, conference)
                .await
                .map_err(|_| JoinOutcome::Failed)?;
            let masked = mask_number(&number);
            // The owner's address book names the number, if a moderator did.
            let name = match services.store.contact_name(conference, &index).await {
                Ok(Some(name)) => {
                    crate::summary_keys::open_or_clear(&services.secrets.encryption_key, name)
                }
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
                hold,
                origin: None,
            };
            match room.send(Connect { newcomer, link }).await {
                Ok(Ok(entered)) => Ok((id, room, queue, close, entered)),
                Ok(Err(RoomError::Locked)) => Err(JoinOutcome::Locked),
                Ok(Err(RoomError::Blocked)) => Err(JoinOutcome::Blocked),
                Ok(Err(RoomError::RoomFull)) => Err(JoinOutcome::Full),
                Ok(Err(RoomError::Denied)) => Err(JoinOutcome::Denied),
                _ => Err(JoinOutcome::Failed),
            }
        };
        ctx.spawn(work.into_actor(self).map(move |joined, act, ctx| {
            let outcome = match joined {
                Ok((id, room, queue, close, entered)) => {
                    tracing::info!(%conference, participant = %id, %role, ?entered, "caller joined");
                    if let Some(audio) = act.audio.clone() {
                        room.do_send(PhoneMedia { id, audio });
                    }
                    act.seat = Some((id, room));
                    ctx.add_stream(futures_util::stream::unfold(queue, |mut rx| async move {
                        rx.recv().await.map(|m| (FromRoom(m), rx))
                    }));
                    ctx.spawn(close.into_actor(act).map(|reason, act, ctx| {
                        let reason = reason.map_or("room_closed", |r| r.as_str());
                        act.seat = None;
                        act.end(Some(reason), ctx);
                    }));
                    match entered {
                        Entered::Seated => JoinOutcome::Seated,
                        Entered::Waiting => JoinOutcome::Waiting,
                    }
                }
                Err(outcome) => outcome,
            };
            act.input(Input::Joined(outcome), ctx);
        }));
    }

    fn toggle_lock(&mut self, ctx: &mut Context<Self>) {
        let Some((by, room)) = self.seat.clone() else {
            return;
        };
        let lock = !self.locked;
        let command = if lock {
            Command::Lock { by }
        } else {
            Command::Unlock { by }
        };
        ctx.spawn(
            async move { room.send(Apply(command)).await }
                .into_actor(self)
                .map(move |answer, act, ctx| {
                    let prompt = match answer {
                        Ok(Ok(_)) if lock => Prompt::Locked,
                        Ok(Ok(_)) => Prompt::Unlocked,
                        Ok(Err(RoomError::Forbidden)) => Prompt::NotAllowed,
                        _ => Prompt::TryLater,
                    };
                    act.prompt(prompt, ctx);
                }),
        );
    }
}

impl Actor for PhoneLeg {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let start = self.ivr.start();
        self.act(start, ctx);
    }
}

impl Handler<Keys> for PhoneLeg {
    type Result = ();

    fn handle(&mut self, Keys(keys): Keys, ctx: &mut Self::Context) {
        for key in keys.chars() {
            if self.ended {
                return;
            }
            self.input(Input::Key(key), ctx);
        }
    }
}

impl Handler<CallerHungUp> for PhoneLeg {
    type Result = ();

    fn handle(&mut self, _: CallerHungUp, ctx: &mut Self::Context) {
        self.end(None, ctx);
    }
}

impl Handler<GatewayLost> for PhoneLeg {
    type Result = ();

    fn handle(&mut self, _: GatewayLost, ctx: &mut Self::Context) {
        if let Some((id, room)) = self.seat.take() {
            room.do_send(ConnectionLost { id });
        }
        self.ended = true;
        ctx.stop();
    }
}

impl StreamHandler<FromRoom> for PhoneLeg {
    fn handle(&mut self, FromRoom(message): FromRoom, ctx: &mut Self::Context) {
        let me = self.seat.as_ref().map(|(id, _)| *id);
        match &message.message {
            ToClient::Snapshot(s) => self.locked = s.locked,
            ToClient::Locked { .. } => self.locked = true,
            ToClient::Unlocked { .. } => self.locked = false,
            ToClient::RoleChanged { target, role, .. } if Some(*target) == me => {
                self.input(Input::RoleChanged(*role), ctx)
            }
            ToClient::Admitted => self.input(Input::Joined(JoinOutcome::Seated), ctx),
            ToClient::Closed(CloseReason::Denied) => {
                self.seat = None;
                self.input(Input::Joined(JoinOutcome::Denied), ctx);
            }
            ToClient::Closed(reason) => {
                self.seat = None;
                self.end(Some(reason.as_str()), ctx);
            }
            _ => {}
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        if self.seat.take().is_some() {
            self.end(Some("room_closed"), ctx);
        }
    }
}
