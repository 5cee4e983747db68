//! The `SipEdge` actor: every SIP message read goes through it. Messages
//! of a call it carries go to that call's [`SipCall`]; a new INVITE is
//! checked (trunk address, INVITE rate, digest credentials, the call
//! ceiling, the offer, the caller's number) and, when all pass, becomes a
//! new `SipCall`; OPTIONS from a trunk is answered; the rest is refused
//! with the status RFC 3261 gives for it.
//!
//! Talks to: the transports (messages in), the calls (messages routed,
//! their end reported back), the services and rooms it hands each call.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicU16;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use actix_web::web;
use ezk_sip_types::{Method, Name};

use super::call::{Hangup, Routed, Setup, SipCall};
use super::message::{self, Message};
use super::prompts::Prompts;
use super::sdp;
use super::transport::Flow;
use super::trunks::{self, Trunks, Verdict};
use super::SipConfig;
use crate::addresses::truncated;
use crate::phone::mask_number;
use crate::rooms::Rooms;
use crate::services::Services;

const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO";

/// A message a transport read.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Incoming {
    pub message: Message,
    pub flow: Flow,
}

/// A call is over; forget it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CallEnded(pub String);

/// The server is stopping: hang every call up.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ShutDown;

pub struct SipEdge {
    config: Arc<SipConfig>,
    trunks: Trunks,
    rate: trunks::InviteRate,
    prompts: Prompts,
    services: web::Data<Services>,
    rooms: web::Data<Rooms>,
    local: SocketAddr,
    calls: HashMap<String, Addr<SipCall>>,
    rtp_cursor: Arc<AtomicU16>,
    stopping: bool,
}

impl SipEdge {
    pub fn new(
        config: SipConfig,
        trunks: Trunks,
        prompts: Prompts,
        services: web::Data<Services>,
        rooms: web::Data<Rooms>,
        local: SocketAddr,
    ) -> Self {
        Self {
            rate: trunks::InviteRate::new(config.invites_per_minute),
            config: Arc::new(config),
            trunks,
            prompts,
            services,
            rooms,
            local,
            calls: HashMap::new(),
            rtp_cursor: Arc::new(AtomicU16::new(0)),
            stopping: false,
        }
    }

    fn answer(&self, m: &Message, flow: &Flow, code: u16, extra: &[(Name, String)]) {
        flow.send(message::response(m, code, Some(&tag()), extra, None));
    }

    /// The address our SDP and Contact name for a caller at `peer`.
    fn address_for(&self, peer: IpAddr) -> IpAddr {
        if let Some(ip) = self.config.public_ip {
            return ip;
        }
        if !self.local.ip().is_unspecified() {
            return self.local.ip();
        }
        // The kernel's choice of source address toward the caller.
        std::net::UdpSocket::bind((
            if peer.is_ipv4() {
                IpAddr::from([0, 0, 0, 0])
            } else {
                IpAddr::from([0u16; 8])
            },
            0,
        ))
        .and_then(|s| {
            s.connect((peer, 9))?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .unwrap_or(peer)
    }

    fn new_call(&mut self, m: Message, flow: Flow, ctx: &mut Context<Self>) {
        let source = flow.peer().ip();
        let now = Instant::now();
        let answer = m
            .headers
            .get_raw(&Name::AUTHORIZATION)
            .next()
            .and_then(|v| trunks::digest_answer(v));
        let verdict = self.trunks.check(source, "INVITE", answer.as_ref(), now);
        if verdict == Verdict::Forbidden && answer.is_none() {
            tracing::info!(peer = %truncated(flow.peer().ip()), "SIP INVITE from an address no trunk admits: 403");
            self.services.metrics.sip_invite("forbidden");
            return self.answer(&m, &flow, 403, &[]);
        }
        if self.stopping || !self.rate.allow(source, now) {
            tracing::info!(peer = %truncated(flow.peer().ip()), "SIP INVITE over its source's rate: 503");
            self.services.metrics.sip_invite("rate_limited");
            return self.answer(&m, &flow, 503, &[(Name::RETRY_AFTER, "60".into())]);
        }
        let trunk = match verdict {
            Verdict::Admitted(t) => t,
            Verdict::Challenge => {
                let challenge = self.trunks.challenge(source, now);
                self.services.metrics.sip_invite("challenged");
                return self.answer(&m, &flow, 401, &[(Name::WWW_AUTHENTICATE, challenge)]);
            }
            Verdict::Forbidden => {
                tracing::info!(peer = %truncated(flow.peer().ip()), "SIP INVITE with wrong credentials: 403");
                self.services.metrics.sip_invite("forbidden");
                return self.answer(&m, &flow, 403, &[]);
            }
        };
        if self.calls.len() >= self.config.max_calls {
            tracing::warn!(calls = self.calls.len(), "SIP call ceiling reached: 503");
            self.services.metrics.sip_invite("full");
            return self.answer(&m, &flow, 503, &[(Name::RETRY_AFTER, "30".into())]);
        }
        let negotiated = match sdp::read_offer(&m.body) {
            Ok(n) => n,
            Err(why) => {
                tracing::info!(?why, "SIP offer not acceptable: 488");
                self.services.metrics.sip_invite("not_acceptable");
                return self.answer(&m, &flow, 488, &[]);
            }
        };
        let identity = if trunk.trusted_identity {
            m.header("p-asserted-identity").map(|v| v.to_string())
        } else {
            None
        };
        let number = identity
            .or_else(|| m.headers.get_raw(&Name::FROM).next().map(|v| v.to_string()))
            .and_then(|v| message::uri_user(&v))
            .and_then(|u| caller_number(&u));
        let Some(number) = number else {
            tracing::info!("SIP caller without a usable number: 433");
            self.services.metrics.sip_invite("anonymous");
            return self.answer(&m, &flow, 433, &[]);
        };
        tracing::info!(
            trunk = %trunk.name,
            caller = %mask_number(&number),
            transport = flow.transport(),
            "SIP call offered"
        );
        self.services.metrics.sip_invite("accepted");
        flow.send(message::response(&m, 100, None, &[], None));
        let call_id = m.call_id.to_string();
        let setup = Setup {
            invite: m,
            flow: flow.clone(),
            number,
            connection: trunk.connection,
            negotiated,
            address: self.address_for(source),
            local_port: self.local.port(),
            config: self.config.clone(),
            prompts: self.prompts.clone(),
            services: self.services.clone(),
            rooms: self.rooms.clone(),
            edge: ctx.address(),
            rtp_cursor: self.rtp_cursor.clone(),
        };
        let call = SipCall::new(setup).start();
        self.calls.insert(call_id, call);
        self.services.metrics.sip_calls(self.calls.len());
    }
}

/// A random tag (RFC 3261 §19.3: at least 32 bits of randomness).
pub fn tag() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The caller's number as the IVR takes it: 3 to 20 digits, with or
/// without a leading `+`; visual separators are dropped.
pub fn caller_number(user: &str) -> Option<String> {
    let cleaned: String = user
        .chars()
        .filter(|c| !matches!(c, '-' | '.' | '(' | ')' | ' '))
        .collect();
    let digits = cleaned.strip_prefix('+').unwrap_or(&cleaned);
    ((3..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()))
        .then_some(cleaned)
}

impl Actor for SipEdge {
    type Context = Context<Self>;
}

impl Handler<Incoming> for SipEdge {
    type Result = ();

    fn handle(&mut self, Incoming { message: m, flow }: Incoming, ctx: &mut Self::Context) {
        if let Some(call) = self.calls.get(m.call_id.as_str()) {
            call.do_send(Routed { message: m, flow });
            return;
        }
        let Some(method) = m.method().cloned() else {
            return; // a response for a call already gone
        };
        if method == Method::INVITE && m.to.tag.is_none() {
            self.new_call(m, flow, ctx);
        } else if method == Method::OPTIONS {
            let known = self
                .trunks
                .check(flow.peer().ip(), "OPTIONS", None, Instant::now());
            let code = if known == Verdict::Forbidden {
                403
            } else {
                200
            };
            self.answer(&m, &flow, code, &[(Name::ALLOW, ALLOW.into())]);
        } else if method == Method::ACK {
            // An ACK for a call already gone, or for a refusal: no answer.
        } else if matches!(
            method,
            Method::BYE | Method::CANCEL | Method::INFO | Method::INVITE
        ) {
            self.answer(&m, &flow, 481, &[]);
        } else {
            self.answer(&m, &flow, 405, &[(Name::ALLOW, ALLOW.into())]);
        }
    }
}

impl Handler<CallEnded> for SipEdge {
    type Result = ();

    fn handle(&mut self, CallEnded(call_id): CallEnded, _: &mut Self::Context) {
        self.calls.remove(&call_id);
        self.services.metrics.sip_calls(self.calls.len());
    }
}

impl Handler<ShutDown> for SipEdge {
    type Result = ();

    fn handle(&mut self, _: ShutDown, _: &mut Self::Context) {
        self.stopping = true;
        for call in self.calls.values() {
            call.do_send(Hangup("server_shutdown"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::caller_number;

    #[test]
    fn numbers_are_taken_as_the_ivr_takes_them() {
        assert_eq!(
            caller_number("+44 (20) 7946-0018").as_deref(),
            Some("+442079460018")
        );
        assert_eq!(caller_number("anonymous"), None);
        assert_eq!(caller_number("12"), None);
        assert_eq!(caller_number(&"9".repeat(21)), None);
    }
}
