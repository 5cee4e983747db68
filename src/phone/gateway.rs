//! The telephony gateway's WebSocket (`GET /gateway`): a SIP bridge
//! authenticates with the gateway secret (`Authorization: Bearer`, never in
//! the URL) and multiplexes calls over one connection. Per call it sends
//! the caller's number and DTMF keys; Conclave runs the [`Ivr`] and answers
//! with prompts to play, and hangs a call up when the IVR or the room says
//! so. A seated caller is an ordinary participant of the room: phone
//! endpoint, masked number for non-moderators, the name the owner's address
//! book holds for the number. The protocol is in docs/protocol.md.
//!
//! Each call is a [`PhoneLeg`] actor; this connection task only routes the
//! gateway's frames to the legs and writes what they send out, so one
//! call never holds up another.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix::{Actor, Addr};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::frame::{self, Frame, Refused};
use super::leg::{CallerHungUp, GatewayLost, Keys, Outbound, PhoneLeg};
use crate::error::AppError;
use crate::rooms::Rooms;
use crate::services::Services;

/// Calls one gateway connection may carry at once.
const MAX_CALLS: usize = 1000;
const MAX_FRAME_BYTES: usize = 16 * 1024;
const HEARTBEAT: Duration = Duration::from_secs(10);
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames the legs may have waiting for this connection to write.
const OUTBOUND_CAPACITY: usize = 4096;

/// Numbers each connection, for counting failures per connection.
static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

/// A new connection number; the SIP edge takes one per trunk, so that a
/// trunk's calls share the per-connection failure count.
pub fn next_connection_id() -> u64 {
    NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed)
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
        let (out_tx, out_rx) = mpsc::channel(OUTBOUND_CAPACITY);
        let mut gateway = Gateway {
            id: next_connection_id(),
            session,
            services,
            rooms,
            calls: HashMap::new(),
            out_tx,
        };
        let reason = gateway.run(stream, out_rx).await;
        for (_, leg) in gateway.calls.drain() {
            leg.do_send(GatewayLost);
        }
        let _ = tokio::time::timeout(SEND_TIMEOUT, gateway.session.close(Some(reason))).await;
    });
    Ok(response)
}

struct Gateway {
    id: u64,
    session: actix_ws::Session,
    services: web::Data<Services>,
    rooms: web::Data<Rooms>,
    calls: HashMap<String, Addr<PhoneLeg>>,
    out_tx: mpsc::Sender<Outbound>,
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
        mut out: mpsc::Receiver<Outbound>,
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
                Some(outbound) = out.recv() => match outbound {
                    Outbound::Frame(value) => self.send(value).await,
                    Outbound::Ended(call) => {
                        self.calls.remove(&call);
                    }
                },
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
        let frame = match frame::decode(text) {
            Ok(frame) => frame,
            Err(Refused::MalformedJson) => return Some(close(CloseCode::Policy, "malformed_json")),
            Err(Refused::BadRequest { call, message }) => {
                self.error(call.as_deref(), "bad_request", &message).await;
                return None;
            }
        };
        match frame {
            Frame::Call { call, from } => self.call(call, from).await,
            Frame::Dtmf { call, digits } => {
                if let Some(leg) = self.calls.get(&call) {
                    leg.do_send(Keys(digits));
                } else {
                    self.error(Some(&call), "unknown_call", "no such call")
                        .await;
                }
            }
            Frame::Hangup { call } => match self.calls.remove(&call) {
                Some(leg) => leg.do_send(CallerHungUp),
                None => {
                    self.error(Some(&call), "unknown_call", "no such call")
                        .await
                }
            },
        }
        None
    }

    async fn call(&mut self, call: String, from: String) {
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
        let leg = PhoneLeg::new(
            call.clone(),
            from,
            self.id,
            self.services.clone(),
            self.rooms.clone(),
            self.out_tx.clone(),
        )
        .start();
        self.calls.insert(call, leg);
    }
}
