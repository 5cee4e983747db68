//! The `Participant` actor: one per browser connection. It owns the
//! connection's state (seat, heartbeat, rate limit) and handles three
//! streams: the client's frames, the room's messages from its bounded
//! queue, and the room's signal to close. Everything it does on the socket
//! or for a request is a [`Job`], run one at a time in order by a future
//! the actor waits on (actix runs several waited futures last-first, so the
//! actor never has more than one). While a job runs no event is handled, so
//! the socket's back-pressure reaches the room's queue and a client that
//! stops reading is disconnected by the room as a slow consumer. The actor never awaits anything that could wait for it: rooms
//! only `try_send` into its queue.
//!
//! Talks to: its room (commands through `Apply`, `ConnectionLost` when it
//! stops), the registry (through the gate, to join), the client's socket.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError};
use conclave_actors::room::{ConnectionLost, Room};
use conclave_actors::view::{CloseReason as RoomCloseReason, Outgoing, ToClient};
use conclave_actors::ParticipantId;
use serde_json::{json, Value};

use super::encode;
use super::protocol::{decode, DecodeError, Request};
use super::session::{
    close, Entry, Gate, Seated, HEARTBEAT, IDLE_TIMEOUT, JOIN_TIMEOUT, RATE_BURST, RATE_PER_SEC,
    SEND_TIMEOUT,
};

/// How long the room's last words may take to arrive after it signalled a
/// close, before the connection is closed anyway.
const LAST_WORDS: Duration = Duration::from_secs(2);

/// One message from the room's queue.
struct FromRoom(Arc<Outgoing>);

/// One thing to do, in order.
enum Job {
    Write(Value),
    /// A room message, spelled once per role and shared by its recipients.
    Relay(Arc<Outgoing>),
    Ping,
    Pong(bytes::Bytes),
    /// Answer a request (join, or a room command once seated).
    Request(Box<Request>),
    /// Say goodbye and stop.
    Close(CloseReason),
}

/// What a finished job leaves to do.
enum Done {
    Nothing,
    Seated(Seated),
    Decoy,
    Close(CloseReason),
    Stop,
}

pub struct Participant {
    gate: Gate,
    jobs: std::collections::VecDeque<Job>,
    busy: bool,
    seat: Option<(ParticipantId, Addr<Room>)>,
    /// Seems to wait after a deflected join (session/decoy.rs).
    decoy: bool,
    /// In the waiting room: the `joined` to send when a moderator admits.
    admitted: Option<serde_json::Value>,
    last_seen: Instant,
    tokens: f64,
    refilled: Instant,
    closing: bool,
}

impl Participant {
    /// Starts the actor for a fresh connection.
    pub(super) fn start_with(gate: Gate, frames: actix_ws::AggregatedMessageStream) -> Addr<Self> {
        Participant::create(|ctx| {
            ctx.add_stream(frames);
            Participant {
                gate,
                jobs: Default::default(),
                busy: false,
                seat: None,
                decoy: false,
                admitted: None,
                last_seen: Instant::now(),
                tokens: RATE_BURST,
                refilled: Instant::now(),
                closing: false,
            }
        })
    }

    fn write(&mut self, value: Value, ctx: &mut Context<Self>) {
        self.job(Job::Write(value), ctx);
    }

    /// Says goodbye with `reason` and stops; later jobs are dropped.
    fn close(&mut self, reason: CloseReason, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        self.closing = true;
        self.job(Job::Close(reason), ctx);
    }

    /// Closes before anything still queued: the queue cannot be delivered.
    fn close_now(&mut self, reason: CloseReason, ctx: &mut Context<Self>) {
        self.jobs.clear();
        self.closing = false;
        self.close(reason, ctx);
    }

    fn job(&mut self, job: Job, ctx: &mut Context<Self>) {
        self.jobs.push_back(job);
        self.pump(ctx);
    }

    /// Starts the next job unless one is running.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            return;
        }
        let Some(job) = self.jobs.pop_front() else {
            return;
        };
        self.busy = true;
        let mut gate = self.gate.clone();
        let seat = self.seat.clone();
        let decoy = self.decoy;
        let work = async move {
            match job {
                Job::Write(value) => match gate.deliver(value.to_string()).await {
                    Ok(()) => Done::Nothing,
                    Err(why) => Done::Close(undelivered(why)),
                },
                Job::Relay(out) => {
                    let text = out
                        .text
                        .get_or_init(|| encode::to_client(&out.message).to_string())
                        .clone();
                    match gate.deliver(text).await {
                        Ok(()) => Done::Nothing,
                        Err(why) => Done::Close(undelivered(why)),
                    }
                }
                Job::Ping => {
                    let _ = tokio::time::timeout(SEND_TIMEOUT, gate.session.ping(b"")).await;
                    Done::Nothing
                }
                Job::Pong(p) => {
                    let _ = tokio::time::timeout(SEND_TIMEOUT, gate.session.pong(&p)).await;
                    Done::Nothing
                }
                Job::Request(r) if decoy => match gate.decoy_request(*r).await {
                    Some(reason) => Done::Close(reason),
                    None => Done::Nothing,
                },
                Job::Request(r) => match seat {
                    None => match gate.join(*r).await {
                        Ok(Some(Entry::Seated(seated))) => Done::Seated(seated),
                        Ok(Some(Entry::Decoy)) => Done::Decoy,
                        Ok(None) => Done::Nothing,
                        Err(reason) => Done::Close(reason),
                    },
                    Some((id, room)) => match gate.command(id, room, *r).await {
                        Some(reason) => Done::Close(reason),
                        None => Done::Nothing,
                    },
                },
                Job::Close(reason) => {
                    let session = gate.session.clone();
                    let _ = tokio::time::timeout(SEND_TIMEOUT, session.close(Some(reason))).await;
                    Done::Stop
                }
            }
        };
        ctx.wait(work.into_actor(self).map(|done, act, ctx| {
            act.busy = false;
            match done {
                Done::Nothing => {}
                Done::Seated(seated) => act.seated(seated, ctx),
                Done::Decoy => act.seem_to_wait(ctx),
                Done::Close(reason) => act.close_now(reason, ctx),
                Done::Stop => {
                    act.jobs.clear();
                    ctx.stop();
                    return;
                }
            }
            act.pump(ctx);
        }));
    }

    /// A request, after the rate limit and decoding.
    fn text(&mut self, text: &str, ctx: &mut Context<Self>) {
        let now = Instant::now();
        self.tokens = (self.tokens
            + now.duration_since(self.refilled).as_secs_f64() * RATE_PER_SEC)
            .min(RATE_BURST);
        self.refilled = now;
        match decode(text) {
            Err(DecodeError::Violation(why)) => self.close(close(CloseCode::Policy, why), ctx),
            Err(DecodeError::Invalid { id, code, detail }) => {
                self.write(encode::error(Some(&id), code, &detail), ctx)
            }
            Ok(r) if self.tokens < 1.0 => self.write(
                encode::error(Some(&r.id), "rate_limited", "too many requests; slow down"),
                ctx,
            ),
            Ok(r) => {
                self.tokens -= 1.0;
                self.request(r, ctx);
            }
        }
    }

    /// Answers one request; the next waits until this one is done.
    fn request(&mut self, r: Request, ctx: &mut Context<Self>) {
        self.job(Job::Request(Box::new(r)), ctx);
    }

    /// Seated: the room's queue and close signal become the actor's inputs.
    fn seated(&mut self, seated: Seated, ctx: &mut Context<Self>) {
        self.seat = Some((seated.id, seated.room));
        self.admitted = seated.admitted;
        let queue = futures_util::stream::unfold(seated.queue, |mut rx| async move {
            rx.recv().await.map(|m| (FromRoom(m), rx))
        });
        ctx.add_stream(queue);
        ctx.spawn(seated.close.into_actor(self).map(|reason, act, ctx| {
            let reason = reason.unwrap_or(RoomCloseReason::RoomClosed);
            act.room_closed(reason, ctx);
        }));
    }

    /// A deflected join: waits as a waiter nobody admits would, and ends
    /// as its wait would.
    fn seem_to_wait(&mut self, ctx: &mut Context<Self>) {
        self.decoy = true;
        ctx.run_later(self.gate.max_wait(), |act, ctx| {
            act.stop_seeming("wait_expired", ctx)
        });
    }

    fn stop_seeming(&mut self, reason: &'static str, ctx: &mut Context<Self>) {
        if !self.decoy || self.closing {
            return;
        }
        self.decoy = false;
        self.write(json!({"type": "closed", "reason": reason}), ctx);
        self.close(close(CloseCode::Normal, reason), ctx);
    }

    fn room_closed(&mut self, reason: RoomCloseReason, ctx: &mut Context<Self>) {
        match reason {
            // Nothing more can reach the client through the queue.
            RoomCloseReason::SlowConsumer | RoomCloseReason::Replaced => {
                self.seat = None;
                self.close_now(close(CloseCode::Policy, reason.as_str()), ctx);
            }
            // The room queued its last words (`closed`) before it signalled:
            // they arrive through the queue, which closes the connection.
            // If they were lost (a full queue), close anyway.
            _ => {
                self.seat = None;
                ctx.run_later(LAST_WORDS, move |act, ctx| {
                    act.close(close(CloseCode::Policy, reason.as_str()), ctx);
                });
            }
        }
    }
}

impl Actor for Participant {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_later(JOIN_TIMEOUT, |act, ctx| {
            if act.seat.is_none() && !act.decoy {
                act.close(close(CloseCode::Policy, "join_timeout"), ctx);
            }
        });
        // A seated connection is closed by its room when the server stops;
        // one that holds no seat must close itself, or it holds the drain.
        let mut shutdown = self.gate.shutdown();
        let stopping = async move {
            let _ = shutdown.wait_for(|&stopping| stopping).await;
        };
        ctx.spawn(stopping.into_actor(self).map(|_, act, ctx| {
            // As a waiter's room would close it.
            act.stop_seeming("room_closed", ctx);
            if act.seat.is_none() {
                act.close_now(close(CloseCode::Away, "server_shutdown"), ctx);
            }
        }));
        ctx.run_interval(HEARTBEAT, |act, ctx| {
            if act.last_seen.elapsed() > IDLE_TIMEOUT {
                act.close(close(CloseCode::Away, "idle_timeout"), ctx);
                return;
            }
            act.job(Job::Ping, ctx);
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        // A connection that ends without a goodbye keeps its seat for the
        // resume grace.
        if let Some((id, room)) = self.seat.take() {
            room.do_send(ConnectionLost { id });
        }
    }
}

impl StreamHandler<Result<AggregatedMessage, ProtocolError>> for Participant {
    fn handle(&mut self, frame: Result<AggregatedMessage, ProtocolError>, ctx: &mut Self::Context) {
        if self.closing {
            return;
        }
        self.last_seen = Instant::now();
        match frame {
            Ok(AggregatedMessage::Text(text)) => self.text(&text, ctx),
            Ok(AggregatedMessage::Ping(p)) => self.job(Job::Pong(p), ctx),
            Ok(AggregatedMessage::Pong(_)) => {}
            Ok(AggregatedMessage::Binary(_)) => self.close(
                close(CloseCode::Unsupported, "binary_frames_not_supported"),
                ctx,
            ),
            Ok(AggregatedMessage::Close(_)) => self.close(close(CloseCode::Normal, "bye"), ctx),
            Err(_) => self.close(
                close(CloseCode::Policy, "frame_too_large_or_malformed"),
                ctx,
            ),
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        // The client went away.
        ctx.stop();
    }
}

impl StreamHandler<FromRoom> for Participant {
    fn handle(&mut self, FromRoom(message): FromRoom, ctx: &mut Self::Context) {
        if self.closing {
            return;
        }
        let closed = match &message.message {
            ToClient::Closed(reason) => Some(*reason),
            ToClient::Admitted => {
                if let Some(joined) = self.admitted.take() {
                    self.job(Job::Write(joined), ctx);
                }
                return;
            }
            _ => None,
        };
        self.job(Job::Relay(message), ctx);
        if let Some(reason) = closed {
            self.seat = None;
            self.close(close(CloseCode::Normal, reason.as_str()), ctx);
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        // The room dropped the link: it is gone.
        if self.seat.take().is_some() {
            self.close(close(CloseCode::Away, "room_closed"), ctx);
        }
    }
}

/// How a connection closes when a message could not be written: a stalled
/// socket as a slow consumer (as when its room queue overflows), one that
/// failed as gone.
fn undelivered(why: &'static str) -> CloseReason {
    let code = if why == "slow_consumer" {
        CloseCode::Policy
    } else {
        CloseCode::Normal
    };
    close(code, why)
}
