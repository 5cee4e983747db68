//! A subscribe connection the server runs itself: ICE-lite, DTLS-SRTP and
//! sender reports, with nothing between a forwarded packet and its seal.
//!
//! A subscribe connection only sends media and only hears RTCP back, so it
//! needs a small part of a peer connection. Sent through `rtc`'s pipeline,
//! every copy crossed eight handlers and their queues, which cost more
//! than the seal and the send together (docs/performance.md); here a copy
//! is marshalled, sealed and queued for the socket, and that is all.
//!
//! What the leg does not do, and why it need not: it never probes (ICE
//! lite, host candidates only, so no TURN on the server's side); it carries
//! no data channel; it receives no RTP. It takes either DTLS role, as the
//! client's answer picks.

pub mod copies;
pub mod dtls;
mod feedback;
pub mod ice;
pub mod offer;
pub mod probe;
pub mod reports;
pub mod seal;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::BytesMut;
use rtc::crypto::RTCCryptoProvider;
use rtc::peer_connection::certificate::RTCCertificate;
use rtc::shared::marshal::{Marshal, MarshalSize};

pub use offer::{BadAnswer, Section, Sending};

use crate::socket::{Announced, Peer};

/// Silence after which a client is taken to be gone: no consent check and
/// no RTCP that opens (RFC 7675 gives 30 s).
pub const CONSENT: Duration = Duration::from_secs(30);

/// DTLS datagrams kept while the answer is on its way: the client may
/// start the handshake before its answer reaches the server.
const EARLY: usize = 8;

/// As the DTLS client, how long the leg waits after the first check for
/// the client to nominate before it sends its ClientHello anyway.
/// A client drops DTLS until its ICE has a selected pair, which comes with
/// the nomination, one check interval after the first check; a ClientHello
/// sent sooner is lost and the next goes a retransmission timer (1 s)
/// later.
const NOMINATION_WAIT: Duration = Duration::from_millis(500);

/// What a leg has to tell the forwarder.
pub enum Event {
    /// Keys are agreed: media may flow.
    Connected,
    /// RTCP from the client: keyframe requests, NACKs, reports.
    Feedback(Vec<Box<dyn rtc::rtcp::Packet>>),
    /// Transport-wide feedback: what came of packets the leg numbered.
    Transport(Vec<crate::bwe::Observation>),
    /// The connection is over. `retry` when it failed after the client
    /// reached it (a check passed): it went silent (consent) or the
    /// handshake ran out of retransmissions, and a new connection may
    /// work. Not when the client closed it (`close_notify`) or never
    /// tried it.
    Lost { retry: bool },
}

pub struct Leg {
    credentials: ice::Credentials,
    certificate: RTCCertificate,
    fingerprint: String,
    provider: Arc<dyn RTCCryptoProvider>,
    /// Where media goes: the nominated address, or else the first that
    /// passed a check.
    remote: Option<Peer>,
    /// The client nominated a pair, or it was given time enough to.
    nominated: bool,
    /// When the leg connects without a nomination (set by the first check).
    nomination_due: Option<Instant>,
    dtls: Option<dtls::Dtls>,
    early: Vec<BytesMut>,
    srtp: Option<Box<dtls::Srtp>>,
    reports: reports::Reports,
    heard: Instant,
    lost: bool,
    session_id: u64,
    version: u64,
    /// Datagrams other than forwarded media, for [`Leg::poll_transmit`].
    pending: VecDeque<(Peer, BytesMut)>,
    /// Transport-wide sequence numbers on what it sends, when the server
    /// estimates the link itself (bwe.rs) and the client took them.
    twcc: Option<crate::bwe::Sent>,
    /// The vector a copy's number goes in, lent to each copy in turn.
    extensions: Vec<rtc::rtp::header::Extension>,
    /// How recent copies were numbered, for sending them again.
    copies: copies::Copies,
    /// Padding to probe the link with, on a stream of its own.
    prober: Option<probe::Prober>,
}

impl Leg {
    pub fn new(
        certificate: RTCCertificate,
        ufrag: String,
        pwd: String,
        now: Instant,
    ) -> rtc::shared::error::Result<Self> {
        let provider = rtc::crypto::default_provider()
            .map_err(|e| rtc::shared::error::Error::Other(e.to_string()))?;
        let fingerprint = certificate
            .get_fingerprints(provider.crypto())?
            .into_iter()
            .find(|f| f.algorithm == "sha-256")
            .map(|f| f.value.to_ascii_uppercase())
            .ok_or(rtc::shared::error::Error::ErrNonCertificate)?;
        Ok(Self {
            credentials: ice::Credentials { ufrag, pwd },
            certificate,
            fingerprint,
            provider,
            remote: None,
            nominated: false,
            nomination_due: None,
            dtls: None,
            early: Vec::new(),
            srtp: None,
            reports: reports::Reports::default(),
            heard: now,
            lost: false,
            session_id: u64::from(crate::conn::random_u32()),
            version: 0,
            pending: VecDeque::new(),
            twcc: None,
            extensions: Vec::new(),
            copies: copies::Copies::default(),
            prober: None,
        })
    }

    pub fn connected(&self) -> bool {
        self.srtp.is_some() && !self.lost
    }

    /// Numbers what it sends for transport-wide feedback (the offers ask
    /// for it), until an answer turns it down.
    pub fn enable_twcc(&mut self) {
        self.twcc.get_or_insert_with(Default::default);
        self.prober
            .get_or_insert_with(|| probe::Prober::new(crate::conn::random_u32()));
    }

    /// Whether it numbers what it sends for transport-wide feedback (the
    /// client's answer took it).
    pub fn twcc(&self) -> bool {
        self.twcc.is_some()
    }

    /// Pads at `bps` beside its media for `time`, to probe its link; 0
    /// stops. Only with transport-wide numbers, which tell what came of it.
    pub fn pad(&mut self, now: Instant, bps: u64, time: Duration) {
        if let (Some(p), Some(_)) = (self.prober.as_mut(), self.twcc.as_ref()) {
            p.start(now, bps, now + time);
        }
    }

    /// The padding due now, sealed, into the queue of datagrams to send.
    fn send_padding(&mut self, now: Instant) {
        let (Some(prober), Some(twcc), Some(srtp), Some(to)) = (
            self.prober.as_mut(),
            self.twcc.as_mut(),
            self.srtp.as_mut(),
            self.remote,
        ) else {
            return;
        };
        // A header, the number's extension, the padding, SRTP's tag.
        let size = 12 + 8 + probe::PADDING;
        for seq in prober.take(now, (size as u64 + 16) * 8) {
            let mut header = rtc::rtp::header::Header {
                version: 2,
                padding: true,
                payload_type: crate::peer::VP8_PT,
                sequence_number: seq,
                ssrc: prober.ssrc,
                ..Default::default()
            };
            let number = twcc.stamp(now, size);
            let _ = header.set_extension(crate::bwe::TWCC_ID, crate::bwe::number_bytes(number));
            let sealed = seal_rtp(srtp, &header, probe::PADDING, |out| {
                out.resize(out.len() + probe::PADDING - 1, 0);
                out.extend_from_slice(&[probe::PADDING as u8]);
            });
            if let Some(sealed) = sealed {
                self.pending.push_back((to, sealed));
            }
        }
    }

    /// An offer of `sections`, the one after the last.
    pub fn offer(&mut self, candidates: Announced, sections: &[Section]) -> String {
        self.version += 1;
        offer::write(
            &offer::Local {
                ufrag: &self.credentials.ufrag,
                pwd: &self.credentials.pwd,
                fingerprint: &self.fingerprint,
                candidates,
                session_id: self.session_id,
                version: self.version,
                twcc: self.twcc.is_some(),
                probe: self.prober.as_ref().map(|p| p.ssrc),
            },
            sections,
        )
    }

    /// Takes the client's answer. The first one starts DTLS; later ones
    /// (renegotiation) change nothing the leg keeps, but are still checked.
    pub fn answer(&mut self, now: Instant, sdp: &str) -> Result<(), BadAnswer> {
        let answer = offer::read(sdp)?;
        if !answer.twcc {
            self.twcc = None;
        }
        if self.dtls.is_some() {
            return Ok(());
        }
        let dtls = dtls::Dtls::new(
            self.certificate.dtls_certificate.clone(),
            &answer.fingerprint,
            answer.server_connects,
            self.provider.clone(),
        )
        .map_err(|e| BadAnswer::Dtls(e.to_string()))?;
        self.dtls = Some(dtls);
        tracing::debug!(
            server_connects = answer.server_connects,
            early = self.early.len(),
            "leg: answer"
        );
        self.start_dtls(now);
        let mut events = Vec::new();
        for datagram in std::mem::take(&mut self.early) {
            self.on_dtls(now, datagram, &mut events);
        }
        // Nothing in the early flight can finish a handshake: the client
        // speaks first, the server answers.
        debug_assert!(events.is_empty());
        Ok(())
    }

    /// One datagram from `from` (RFC 7983 demultiplexing).
    pub fn read(&mut self, now: Instant, from: Peer, data: BytesMut, events: &mut Vec<Event>) {
        match data.first() {
            Some(0..=3) => self.on_stun(now, from, &data),
            // DTLS and SRTCP only from an address that passed a check.
            Some(20..=63) if self.remote == Some(from) => self.on_dtls(now, data, events),
            Some(128..=191) if self.remote == Some(from) => self.on_rtcp(now, &data, events),
            // From an address no check passed from, or neither STUN,
            // DTLS nor RTCP.
            first => {
                tracing::trace!(tcp = from.tcp, ?first, "leg: datagram dropped")
            }
        }
    }

    fn on_stun(&mut self, now: Instant, from: Peer, data: &[u8]) {
        let Ok(binding) = ice::answer(data, from.addr, &self.credentials, self.provider.crypto())
        else {
            tracing::trace!(tcp = from.tcp, "leg: STUN refused");
            return;
        };
        self.heard = now;
        self.pending
            .push_back((from, BytesMut::from(&binding.response[..])));
        // Until a nomination the first address that passed is used; a
        // nomination (a later one too, as a client that moved makes) moves
        // media to its address.
        let first = self.remote.is_none();
        if binding.nominated || first {
            if self.remote != Some(from) {
                // The address itself is the client's, not for the log.
                tracing::debug!(
                    tcp = from.tcp,
                    nominated = binding.nominated,
                    "leg: media goes to a new address"
                );
            }
            self.remote = Some(from);
        }
        if first {
            self.nomination_due = Some(now + NOMINATION_WAIT);
        }
        if binding.nominated && !self.nominated {
            self.nominated = true;
            self.start_dtls(now);
        }
    }

    /// Connects, when the leg is the DTLS client, once it has the answer,
    /// an address and the client's nomination (whichever came last calls
    /// this).
    fn start_dtls(&mut self, now: Instant) {
        let (Some(dtls), Some(_), true) = (self.dtls.as_mut(), self.remote, self.nominated) else {
            return;
        };
        if dtls.start(now).is_err() {
            tracing::debug!("leg: cannot start DTLS");
        }
        self.flush_dtls();
    }

    fn on_dtls(&mut self, now: Instant, data: BytesMut, events: &mut Vec<Event>) {
        let Some(dtls) = self.dtls.as_mut() else {
            if self.early.len() < EARLY {
                self.early.push(data);
            }
            return;
        };
        match dtls.read(now, data) {
            Ok(dtls::Progress::Keys(keys)) => {
                self.heard = now;
                if self.srtp.is_none() {
                    self.srtp = Some(keys);
                    events.push(Event::Connected);
                }
            }
            Ok(dtls::Progress::Handshaking) => self.heard = now,
            Ok(dtls::Progress::Closed) => self.lose(false, events),
            // A record that does not verify or parse: dropped, as DTLS
            // over UDP does.
            Err(e) => tracing::debug!(error = %e, "leg: DTLS datagram dropped"),
        }
        self.flush_dtls();
    }

    fn flush_dtls(&mut self) {
        let (Some(dtls), Some(to)) = (self.dtls.as_mut(), self.remote) else {
            return;
        };
        while let Some(d) = dtls.poll_transmit() {
            self.pending.push_back((to, d));
        }
    }

    fn on_rtcp(&mut self, now: Instant, data: &[u8], events: &mut Vec<Event>) {
        // RTP from a client on a send-only leg is not expected: RTCP is
        // told apart by its packet type (RFC 5761 §4).
        if !(192..=223).contains(&data.get(1).copied().unwrap_or(0)) {
            return;
        }
        let Some(srtp) = self.srtp.as_mut() else {
            return;
        };
        let Ok(plain) = srtp.remote.decrypt_rtcp(data) else {
            return;
        };
        self.heard = now;
        let plain = self
            .twcc
            .as_ref()
            .and_then(|twcc| feedback::split_transport(&plain, twcc, events))
            .unwrap_or(plain);
        if plain.is_empty() {
            return;
        }
        if let Ok(packets) = rtc::rtcp::packet::unmarshal(&mut plain.freeze()) {
            events.push(Event::Feedback(packets));
        }
    }

    /// Seals one RTP packet and queues it on `out`; false when the leg has
    /// no keys yet or is lost. `clock_rate` is the codec's, for reports.
    pub fn send_rtp(
        &mut self,
        now: Instant,
        mut packet: rtc::rtp::Packet,
        clock_rate: u32,
        out: &mut Vec<(Peer, BytesMut)>,
    ) -> bool {
        // Numbered only if it goes out: a number never sent would read
        // as a loss.
        if !self.connected() || self.remote.is_none() {
            return false;
        }
        let number = self.twcc.as_mut().map(|twcc| {
            // The extension adds 8 bytes (a one-byte header, padded).
            let number = twcc.stamp(now, packet.marshal_size() + 8);
            crate::bwe::put_number(&mut packet.header, number, &mut self.extensions);
            number
        });
        let (ssrc, seq) = (packet.header.ssrc, packet.header.sequence_number);
        let sent = self.seal_out(now, packet, clock_rate, out);
        if sent {
            self.copies.sent(ssrc, seq, number);
        }
        sent
    }

    fn seal_out(
        &mut self,
        now: Instant,
        mut packet: rtc::rtp::Packet,
        clock_rate: u32,
        out: &mut Vec<(Peer, BytesMut)>,
    ) -> bool {
        let (Some(srtp), Some(to), false) = (self.srtp.as_mut(), self.remote, self.lost) else {
            return false;
        };
        let sealed = seal_rtp(srtp, &packet.header, packet.payload.len() + 4, |out| {
            put_payload(out, &packet)
        });
        if self.extensions.capacity() == 0 {
            self.extensions = std::mem::take(&mut packet.header.extensions);
        }
        let Some(sealed) = sealed else {
            return false;
        };
        out.push((to, sealed));
        let h = &packet.header;
        self.reports
            .sent(now, h.ssrc, clock_rate, h.timestamp, packet.payload.len());
        true
    }

    /// Stops reporting on `ssrc` (its track went away).
    pub fn forget(&mut self, ssrc: u32) {
        self.reports.forget(ssrc);
    }

    /// When [`Leg::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.lost {
            return None;
        }
        let (handshake, nomination) = if self.srtp.is_none() {
            let waiting = self.dtls.is_some() && !self.nominated;
            (
                self.dtls.as_ref().and_then(|d| d.poll_timeout()),
                self.nomination_due.filter(|_| waiting),
            )
        } else {
            (None, None)
        };
        let padding = self
            .prober
            .as_ref()
            .and_then(|p| p.due())
            .filter(|_| self.srtp.is_some());
        [
            handshake,
            nomination,
            self.reports.due(),
            padding,
            Some(self.heard + CONSENT),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn handle_timeout(&mut self, now: Instant, events: &mut Vec<Event>) {
        if self.lost {
            return;
        }
        if now >= self.heard + CONSENT {
            self.lose(self.remote.is_some(), events);
            return;
        }
        if self.srtp.is_none() {
            if !self.nominated && self.nomination_due.is_some_and(|due| now >= due) {
                self.nominated = true;
                self.start_dtls(now);
            }
            if let Some(dtls) = self.dtls.as_mut() {
                if let Err(e) = dtls.handle_timeout(now) {
                    tracing::debug!(error = %e, "leg: DTLS timed out");
                    self.lose(self.remote.is_some(), events);
                    return;
                }
                self.flush_dtls();
            }
            return;
        }
        self.send_padding(now);
        let reports = self.reports.take(now, SystemTime::now());
        if reports.is_empty() {
            return;
        }
        let packets: Vec<Box<dyn rtc::rtcp::Packet>> = reports
            .into_iter()
            .map(|r| Box::new(r) as Box<dyn rtc::rtcp::Packet>)
            .collect();
        let (Some(srtp), Some(to)) = (self.srtp.as_mut(), self.remote) else {
            return;
        };
        let sealed = rtc::rtcp::packet::marshal(&packets)
            .ok()
            .and_then(|plain| srtp.local.encrypt_rtcp(&plain).ok());
        if let Some(sealed) = sealed {
            self.pending.push_back((to, sealed));
        }
    }

    fn lose(&mut self, retry: bool, events: &mut Vec<Event>) {
        if !self.lost {
            self.lost = true;
            events.push(Event::Lost { retry });
        }
    }

    /// Ends the leg, telling the client (`close_notify`) if it can.
    pub fn close(&mut self, now: Instant) {
        if let Some(dtls) = self.dtls.as_mut() {
            dtls.close(now);
            self.flush_dtls();
        }
        self.lost = true;
    }

    /// The next datagram to send other than forwarded media.
    pub fn poll_transmit(&mut self) -> Option<(Peer, BytesMut)> {
        self.pending.pop_front()
    }
}

/// Marshals `header`, then what `body` writes (`body_len` bytes or
/// fewer), and seals it: one buffer per packet, the one it is sent in.
fn seal_rtp(
    srtp: &mut dtls::Srtp,
    header: &rtc::rtp::header::Header,
    body_len: usize,
    body: impl FnOnce(&mut BytesMut),
) -> Option<BytesMut> {
    let header_len = header.marshal_size();
    let mut out = BytesMut::with_capacity(header_len + body_len + seal::TAG);
    out.resize(header_len, 0);
    header.marshal_to(&mut out[..]).ok()?;
    body(&mut out);
    match srtp.rtp.as_mut() {
        Some(gcm) => {
            gcm.seal(&mut out, header_len, header.ssrc, header.sequence_number)
                .ok()?;
            Some(out)
        }
        None => srtp.local.encrypt_rtp_with_header(&out, header).ok(),
    }
}

/// A packet's payload and, if its header says so, padding to a multiple of
/// four bytes (four when none is needed), as the rtc crate marshals it.
fn put_payload(out: &mut BytesMut, packet: &rtc::rtp::Packet) {
    out.extend_from_slice(&packet.payload);
    if packet.header.padding {
        let n = match packet.payload.len() % 4 {
            0 => 4,
            r => 4 - r,
        };
        out.resize(out.len() + n - 1, 0);
        out.extend_from_slice(&[n as u8]);
    }
}

#[cfg(test)]
mod tests;
