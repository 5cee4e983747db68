//! The `SipCall` actor: one per SIP call. It answers the INVITE (200 with
//! our SDP, resent over UDP until the ACK comes, RFC 3261 §13.3.1.4), runs
//! the call's RTP task, and seats the caller through a [`PhoneLeg`], the
//! same actor the gateway WebSocket uses: the leg's prompt frames become
//! audio, its hang-up becomes our BYE (once the last prompt has played),
//! and the caller's key presses (RFC 4733 or SIP INFO) go to the leg. The
//! caller's voice and the room's audio pass between the RTP task and the
//! room's media plane through one shared [`PhoneAudio`], which the leg
//! hands the room once seated.
//!
//! Talks to: the edge (messages of this dialog in, its end out), its RTP
//! task, its phone leg.

use std::net::IpAddr;
use std::sync::atomic::AtomicU16;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_web::web;
use bytes::Bytes;
use bytesstr::BytesStr;
use conclave_actors::media::PhoneAudio;
use ezk_sip_types::header::typed::FromTo;
use ezk_sip_types::uri::SipUri;
use ezk_sip_types::{Method, Name};
use tokio::sync::mpsc;

use super::edge::{tag, CallEnded, SipEdge};
use super::message::{self, DialogRequest, Message};
use super::prompts::Prompts;
use super::rtp::{self, FromMedia, RtpSession, ToMedia};
use super::sdp::{self, Negotiated};
use super::transport::Flow;
use super::SipConfig;
use crate::phone::ivr::Prompt;
use crate::phone::leg::{CallerHungUp, GatewayLost, Keys, Outbound, PhoneLeg};
use crate::rooms::Rooms;
use crate::services::Services;

/// RFC 3261's timers.
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
/// 64 × T1: how long a transaction is retried.
const TIMER_B: Duration = Duration::from_secs(32);
/// Longest wait for a prompt to finish before a BYE goes anyway.
const MAX_DRAIN: Duration = Duration::from_secs(60);
/// Prompt and hang-up frames the leg may have waiting.
const LEG_QUEUE: usize = 64;

/// Everything the edge hands a new call.
pub struct Setup {
    pub invite: Message,
    pub flow: Flow,
    pub number: String,
    pub connection: u64,
    pub negotiated: Negotiated,
    pub address: IpAddr,
    pub local_port: u16,
    pub config: Arc<SipConfig>,
    pub prompts: Prompts,
    pub services: web::Data<Services>,
    pub rooms: web::Data<Rooms>,
    pub edge: Addr<SipEdge>,
    pub rtp_cursor: Arc<AtomicU16>,
}

/// A message of this call's dialog.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Routed {
    pub message: Message,
    pub flow: Flow,
}

/// Hang up now (the server is stopping).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Hangup(pub &'static str);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Binding RTP, then answering.
    Answering,
    /// 200 sent; until the ACK it is resent.
    Answered,
    Confirmed,
    /// Our BYE is out; waiting for its answer.
    Ending,
}

pub struct SipCall {
    setup: Setup,
    call_id: String,
    local: FromTo,
    remote: FromTo,
    target: SipUri,
    routes: Vec<BytesStr>,
    /// The latest INVITE's CSeq and what we answered it, for its
    /// retransmissions.
    invite_cseq: u32,
    last_answer: Option<Bytes>,
    state: State,
    session: u64,
    sdp_version: u64,
    rtp_port: u16,
    media: Option<mpsc::Sender<ToMedia>>,
    /// The caller's voice and the room's audio, shared with the RTP task
    /// and (through the leg) the room's media plane.
    audio: Arc<PhoneAudio>,
    leg: Option<Addr<PhoneLeg>>,
    playing: bool,
    /// The leg asked to hang up; the BYE waits for the prompt to finish.
    bye_after_prompt: bool,
    our_cseq: u32,
    bye: Option<Bytes>,
}

impl SipCall {
    pub fn new(setup: Setup) -> Self {
        let invite = &setup.invite;
        let mut local = invite.to.clone();
        local.tag = Some(tag().into());
        let target = invite
            .contact()
            .unwrap_or_else(|| invite.from.uri.uri.clone());
        let routes = invite
            .headers
            .get_raw(&Name::RECORD_ROUTE)
            .cloned()
            .collect();
        Self {
            call_id: invite.call_id.to_string(),
            remote: invite.from.clone(),
            invite_cseq: invite.cseq.cseq,
            local,
            target,
            routes,
            last_answer: None,
            state: State::Answering,
            session: rand::random::<u32>().into(),
            sdp_version: 1,
            rtp_port: 0,
            media: None,
            audio: PhoneAudio::new(),
            leg: None,
            playing: false,
            bye_after_prompt: false,
            our_cseq: 0,
            bye: None,
            setup,
        }
    }

    fn local_tag(&self) -> String {
        self.local.tag.as_deref().unwrap_or_default().to_owned()
    }

    fn respond(&mut self, m: &Message, code: u16, body: Option<&str>) -> Bytes {
        let tag = self.local_tag();
        let contact = format!(
            "<sip:conclave@{}:{};transport={}>",
            host(self.setup.address),
            self.setup.local_port,
            self.setup.flow.transport().to_ascii_lowercase()
        );
        let extra = [
            (Name::CONTACT, contact),
            (
                Name::ALLOW,
                "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO".into(),
            ),
        ];
        let extra = if code == 200 && m.method() == Some(&Method::INVITE) {
            &extra[..]
        } else {
            &[]
        };
        let bytes = message::response(
            m,
            code,
            Some(&tag),
            extra,
            body.map(|b| ("application/sdp", b)),
        );
        self.setup.flow.send(bytes.clone());
        bytes
    }

    fn answer_sdp(&self) -> String {
        sdp::answer(
            &self.setup.negotiated,
            self.setup.address,
            self.rtp_port,
            self.session,
            self.sdp_version,
        )
    }

    /// Resends the 200 until the ACK, doubling up to T2; no ACK within
    /// 64 × T1 ends the call (RFC 3261 §13.3.1.4).
    fn resend_answer(&mut self, after: Duration, elapsed: Duration, ctx: &mut Context<Self>) {
        if self.setup.flow.is_reliable() {
            ctx.run_later(TIMER_B, |act, ctx| {
                if act.state == State::Answered {
                    act.hang_up("no_ack", ctx);
                }
            });
            return;
        }
        ctx.run_later(after, move |act, ctx| {
            if act.state != State::Answered {
                return;
            }
            let elapsed = elapsed + after;
            if elapsed >= TIMER_B {
                return act.hang_up("no_ack", ctx);
            }
            if let Some(answer) = act.last_answer.clone() {
                act.setup.flow.send(answer);
            }
            act.resend_answer((after * 2).min(T2), elapsed, ctx);
        });
    }

    fn start_leg(&mut self, ctx: &mut Context<Self>) {
        let (tx, rx) = mpsc::channel(LEG_QUEUE);
        let leg = PhoneLeg::new(
            self.call_id.clone(),
            self.setup.number.clone(),
            self.setup.connection,
            self.setup.services.clone(),
            self.setup.rooms.clone(),
            tx,
        )
        .with_audio(self.audio.clone())
        .start();
        self.leg = Some(leg);
        ctx.add_stream(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|o| (FromLeg(o), rx))
        }));
    }

    /// Keys typed: what plays is cut short (barge-in), as callers type
    /// ahead of prompts they know.
    fn keys(&mut self, keys: String) {
        if let Some(media) = &self.media {
            let _ = media.try_send(ToMedia::Flush);
        }
        if let Some(leg) = &self.leg {
            leg.do_send(Keys(keys));
        }
    }

    fn play(&mut self, prompt: Prompt) {
        if let Some(media) = &self.media {
            if media
                .try_send(ToMedia::Play(self.setup.prompts.get(prompt)))
                .is_ok()
            {
                self.playing = true;
            }
        }
    }

    /// Sends our BYE and ends the call; `reason` is for the log.
    fn hang_up(&mut self, reason: &str, ctx: &mut Context<Self>) {
        if self.state == State::Ending {
            return;
        }
        tracing::info!(call = %self.call_id, reason, "SIP call: sending BYE");
        self.state = State::Ending;
        self.media = None;
        self.our_cseq += 1;
        let via_host = format!("{}:{}", host(self.setup.address), self.setup.local_port);
        let branch = format!("z9hG4bK{}", tag());
        let bye = message::request(&DialogRequest {
            method: Method::BYE,
            target: &self.target,
            via_transport: self.setup.flow.transport(),
            via_host: &via_host,
            branch: &branch,
            local: &self.local,
            remote: &self.remote,
            call_id: &self.setup.invite.call_id,
            cseq: self.our_cseq,
            routes: &self.routes,
        });
        self.setup.flow.send(bye.clone());
        self.bye = Some(bye);
        self.resend_bye(T1, Duration::ZERO, ctx);
    }

    fn resend_bye(&mut self, after: Duration, elapsed: Duration, ctx: &mut Context<Self>) {
        ctx.run_later(after, move |act, ctx| {
            let elapsed = elapsed + after;
            if elapsed >= TIMER_B || act.setup.flow.is_reliable() {
                return ctx.stop();
            }
            if let Some(bye) = act.bye.clone() {
                act.setup.flow.send(bye);
                act.resend_bye((after * 2).min(T2), elapsed, ctx);
            }
        });
    }

    fn request(&mut self, m: Message, ctx: &mut Context<Self>) {
        let method = m.method().cloned().unwrap_or(Method::OPTIONS);
        match method {
            Method::ACK => {
                if self.state == State::Answered {
                    self.state = State::Confirmed;
                }
            }
            Method::INVITE if m.cseq.cseq == self.invite_cseq => {
                if let Some(answer) = self.last_answer.clone() {
                    self.setup.flow.send(answer);
                }
            }
            Method::INVITE if m.cseq.cseq > self.invite_cseq && self.state != State::Ending => {
                self.reinvite(m);
            }
            Method::BYE => {
                self.respond(&m, 200, None);
                tracing::info!(call = %self.call_id, "SIP call: the caller hung up");
                if let Some(leg) = self.leg.take() {
                    leg.do_send(CallerHungUp);
                }
                ctx.stop();
            }
            // Answered already: a CANCEL changes nothing (§9.2).
            Method::CANCEL | Method::OPTIONS => {
                self.respond(&m, 200, None);
            }
            Method::INFO => {
                let keys = info_keys(m.content_type().as_deref(), &m.body);
                match keys {
                    Some(keys) => {
                        self.respond(&m, 200, None);
                        self.keys(keys);
                    }
                    None => {
                        self.respond(&m, 415, None);
                    }
                }
            }
            _ => {
                self.respond(&m, 405, None);
            }
        }
    }

    fn reinvite(&mut self, m: Message) {
        self.invite_cseq = m.cseq.cseq;
        if !m.body.is_empty() {
            match sdp::read_offer(&m.body) {
                Ok(n) => {
                    if let Some(media) = &self.media {
                        let _ = media.try_send(ToMedia::Renegotiated(n.clone()));
                    }
                    self.setup.negotiated = n;
                    self.sdp_version += 1;
                }
                Err(_) => {
                    self.last_answer = Some(self.respond(&m, 488, None));
                    return;
                }
            }
        }
        if let Some(contact) = m.contact() {
            self.target = contact;
        }
        let sdp = self.answer_sdp();
        self.last_answer = Some(self.respond(&m, 200, Some(&sdp)));
    }
}

/// The keys in a SIP INFO body: `application/dtmf-relay` (`Signal=5`) or
/// `application/dtmf` (`5`).
pub fn info_keys(content_type: Option<&str>, body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let value = match content_type? {
        "application/dtmf-relay" => text.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            k.trim().eq_ignore_ascii_case("signal").then(|| v.trim())
        })?,
        "application/dtmf" => text.trim(),
        _ => return None,
    };
    let key = match value {
        "10" => '*',
        "11" => '#',
        v if v.len() == 1 => v.chars().next()?,
        _ => return None,
    };
    matches!(key, '0'..='9' | '*' | '#').then(|| key.to_string())
}

fn host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    }
}

struct FromLeg(Outbound);
struct Media(FromMedia);

impl Actor for SipCall {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let c = &self.setup.config;
        let bind_ip = c.listen.ip();
        let (min, max, cursor) = (
            c.rtp_port_min,
            c.rtp_port_max,
            self.setup.rtp_cursor.clone(),
        );
        let bind = async move { rtp::bind_pair(bind_ip, min, max, &cursor).await };
        ctx.wait(bind.into_actor(self).map(|bound, act, ctx| {
            let invite = act.setup.invite.clone();
            let (rtp_socket, rtcp_socket) = match bound {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "SIP call: no RTP port; 503");
                    act.respond(&invite, 503, None);
                    return ctx.stop();
                }
            };
            act.rtp_port = rtp_socket.local_addr().map(|a| a.port()).unwrap_or(0);
            let (to_media, commands) = mpsc::channel(16);
            let (events, from_media) = mpsc::channel(64);
            let session = RtpSession {
                rtp: rtp_socket,
                rtcp: rtcp_socket,
                negotiated: act.setup.negotiated.clone(),
                signalling: act.setup.flow.peer().ip(),
                timeout: Duration::from_secs(act.setup.config.rtp_timeout_secs),
                audio: act.audio.clone(),
            };
            actix_web::rt::spawn(session.run(commands, events));
            act.media = Some(to_media);
            ctx.add_stream(futures_util::stream::unfold(
                from_media,
                |mut rx| async move { rx.recv().await.map(|e| (Media(e), rx)) },
            ));
            let sdp = act.answer_sdp();
            act.last_answer = Some(act.respond(&invite, 200, Some(&sdp)));
            act.state = State::Answered;
            act.resend_answer(T1, Duration::ZERO, ctx);
            act.start_leg(ctx);
        }));
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        if let Some(leg) = self.leg.take() {
            leg.do_send(GatewayLost);
        }
        self.setup.edge.do_send(CallEnded(self.call_id.clone()));
    }
}

impl Handler<Routed> for SipCall {
    type Result = ();

    fn handle(&mut self, Routed { message, flow }: Routed, ctx: &mut Self::Context) {
        // A TCP caller may reconnect: answer down its newest connection.
        if matches!(flow, Flow::Tcp { .. }) && flow.peer().ip() == self.setup.flow.peer().ip() {
            self.setup.flow = flow;
        }
        if message.method().is_some() {
            self.request(message, ctx);
        } else if self.state == State::Ending && message.cseq.method == Method::BYE {
            ctx.stop();
        }
    }
}

impl Handler<Hangup> for SipCall {
    type Result = ();

    fn handle(&mut self, Hangup(reason): Hangup, ctx: &mut Self::Context) {
        self.hang_up(reason, ctx);
    }
}

impl StreamHandler<FromLeg> for SipCall {
    fn handle(&mut self, FromLeg(out): FromLeg, ctx: &mut Self::Context) {
        let Outbound::Frame(frame) = out else {
            return;
        };
        match frame.get("type").and_then(|t| t.as_str()) {
            Some("prompt") => {
                if let Some(p) = frame
                    .get("prompt")
                    .and_then(|p| p.as_str())
                    .and_then(Prompt::from_wire)
                {
                    self.play(p);
                }
            }
            Some("hangup") => {
                // The leg has left its seat and stopped. The IVR's last
                // words (a refusal, goodbye) are heard out; the room's
                // reasons (removed, closed) have none.
                self.leg = None;
                let ivr = frame.get("reason").and_then(|r| r.as_str()) == Some("ivr");
                if ivr && self.playing {
                    self.bye_after_prompt = true;
                    ctx.run_later(MAX_DRAIN, |act, ctx| act.hang_up("prompt_timeout", ctx));
                } else {
                    self.hang_up("ivr_or_room", ctx);
                }
            }
            _ => {}
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {}
}

impl StreamHandler<Media> for SipCall {
    fn handle(&mut self, Media(event): Media, ctx: &mut Self::Context) {
        match event {
            FromMedia::Digit(key) => self.keys(key.to_string()),
            FromMedia::Drained => {
                self.playing = false;
                if self.bye_after_prompt {
                    self.hang_up("ivr_or_room", ctx);
                }
            }
            FromMedia::Silent => {
                // Lost, not hung up: the seat ends as `dropped`.
                if let Some(leg) = self.leg.take() {
                    leg.do_send(GatewayLost);
                }
                self.hang_up("rtp_timeout", ctx);
            }
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {}
}

#[cfg(test)]
mod tests {
    use super::info_keys;

    #[test]
    fn info_bodies_carry_one_key() {
        let relay = Some("application/dtmf-relay");
        assert_eq!(
            info_keys(relay, b"Signal=5\r\nDuration=160\r\n").as_deref(),
            Some("5")
        );
        assert_eq!(info_keys(relay, b"Signal=#\r\n").as_deref(), Some("#"));
        assert_eq!(info_keys(relay, b"Signal=11\r\n").as_deref(), Some("#"));
        assert_eq!(
            info_keys(Some("application/dtmf"), b"*").as_deref(),
            Some("*")
        );
        assert_eq!(info_keys(relay, b"Signal=A\r\n"), None);
        assert_eq!(info_keys(Some("text/plain"), b"5"), None);
        assert_eq!(info_keys(None, b"5"), None);
    }
}
