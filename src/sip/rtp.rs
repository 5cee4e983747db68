//! One call's RTP: a task that owns the call's RTP and RTCP sockets, sends
//! a 20 ms G.711 frame every 20 ms (the prompt being played, else
//! silence), reads the caller's packets (RFC 4733 key presses become
//! digits), sends an RTCP sender report every 5 s, and says when the
//! caller has gone quiet for longer than the timeout.
//!
//! Symmetric RTP (RFC 4961): we send to where the caller's packets come
//! from once they come, which gets through the caller's NAT; until then,
//! to the address in its SDP.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use rtc::rtp::Packet;
use rtc::shared::marshal::{Marshal, MarshalSize, Unmarshal};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::g711;
use super::sdp::Negotiated;

/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME: usize = 160;
const PTIME: Duration = Duration::from_millis(20);
const REPORT_EVERY: Duration = Duration::from_secs(5);
const MAX_DATAGRAM: usize = 1500;

/// What the call asks of its media.
#[derive(Debug)]
pub enum ToMedia {
    /// Queue these samples after what is playing.
    Play(Arc<[i16]>),
    /// The caller typed ahead: stop what is playing and drop what waits.
    Flush,
    /// A re-INVITE changed the far end.
    Renegotiated(Negotiated),
}

/// What the media tells the call.
#[derive(Debug, PartialEq, Eq)]
pub enum FromMedia {
    /// A key the caller pressed (RFC 4733).
    Digit(char),
    /// Everything queued has been played.
    Drained,
    /// Nothing from the caller for the timeout.
    Silent,
}

/// Binds an RTP/RTCP pair of ports (even, odd) in `min..=max`.
pub async fn bind_pair(
    ip: IpAddr,
    min: u16,
    max: u16,
    cursor: &AtomicU16,
) -> std::io::Result<(UdpSocket, UdpSocket)> {
    let first = min + (min & 1);
    let pairs = (max.saturating_sub(first) / 2).max(1);
    for _ in 0..pairs {
        let n = cursor.fetch_add(1, Ordering::Relaxed) % pairs;
        let port = first + n * 2;
        let Ok(rtp) = UdpSocket::bind((ip, port)).await else {
            continue;
        };
        if let Ok(rtcp) = UdpSocket::bind((ip, port + 1)).await {
            return Ok((rtp, rtcp));
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        "no free RTP port pair in the configured range",
    ))
}

/// RFC 4733 key presses, each reported once however often it is repeated.
#[derive(Default)]
pub struct DtmfReader {
    last: Option<u32>,
}

impl DtmfReader {
    /// The key of an event packet the first time its event is seen.
    pub fn read(&mut self, timestamp: u32, payload: &[u8]) -> Option<char> {
        if payload.len() < 4 {
            return None;
        }
        let key = match payload[0] {
            e @ 0..=9 => char::from(b'0' + e),
            10 => '*',
            11 => '#',
            // A to D and tones are not keys the IVR knows.
            _ => return None,
        };
        // Every packet of one press carries the press's start timestamp.
        if self.last == Some(timestamp) {
            return None;
        }
        self.last = Some(timestamp);
        Some(key)
    }
}

pub struct RtpSession {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    pub negotiated: Negotiated,
    /// Where the call's signalling comes from: behind a NAT the caller's
    /// media comes from there rather than from its SDP's address.
    pub signalling: IpAddr,
    pub timeout: Duration,
}

impl RtpSession {
    pub async fn run(self, mut commands: mpsc::Receiver<ToMedia>, events: mpsc::Sender<FromMedia>) {
        let RtpSession {
            rtp,
            rtcp,
            mut negotiated,
            signalling,
            timeout,
        } = self;
        let mut remote = negotiated.remote;
        let mut remote_rtcp = SocketAddr::new(remote.ip(), remote.port().wrapping_add(1));
        let mut latched = false;
        let ssrc: u32 = rand::random();
        let mut seq: u16 = rand::random();
        let mut timestamp: u32 = rand::random();
        let (mut packets, mut octets) = (0u32, 0u32);
        let mut queue: VecDeque<i16> = VecDeque::new();
        let mut playing = false;
        let mut dtmf = DtmfReader::default();
        let mut last_heard = Instant::now();
        let mut silent_told = false;
        let mut tick = tokio::time::interval(PTIME);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut report = tokio::time::interval(REPORT_EVERY);
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut rtcp_buf = vec![0u8; MAX_DATAGRAM];
        let mut frame = Vec::with_capacity(FRAME);
        let mut encoded = Vec::with_capacity(FRAME);
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(ToMedia::Play(samples)) => {
                        queue.extend(samples.iter());
                        playing = true;
                    }
                    Some(ToMedia::Flush) => queue.clear(),
                    Some(ToMedia::Renegotiated(n)) => {
                        if !latched {
                            remote = n.remote;
                            remote_rtcp = SocketAddr::new(remote.ip(), remote.port().wrapping_add(1));
                        }
                        negotiated = n;
                    }
                    None => return,
                },
                received = rtp.recv_from(&mut buf) => {
                    let Ok((n, from)) = received else { continue };
                    // Only the caller's addresses are heard: anyone else's
                    // packets could carry key presses.
                    if from.ip() != negotiated.remote.ip() && from.ip() != signalling {
                        continue;
                    }
                    let Ok(packet) = Packet::unmarshal(&mut &buf[..n]) else { continue };
                    last_heard = Instant::now();
                    silent_told = false;
                    if !latched {
                        remote = from;
                        latched = true;
                    }
                    if Some(packet.header.payload_type) == negotiated.dtmf {
                        if let Some(key) = dtmf.read(packet.header.timestamp, &packet.payload) {
                            if events.send(FromMedia::Digit(key)).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                received = rtcp.recv_from(&mut rtcp_buf) => {
                    if let Ok((_, from)) = received {
                        if from.ip() == negotiated.remote.ip() || from.ip() == signalling {
                            last_heard = Instant::now();
                            remote_rtcp = from;
                        }
                    }
                }
                _ = tick.tick() => {
                    frame.clear();
                    let take = queue.len().min(FRAME);
                    frame.extend(queue.drain(..take));
                    encoded.clear();
                    g711::encode(negotiated.codec, &frame, &mut encoded);
                    encoded.resize(FRAME, g711::silence(negotiated.codec));
                    let packet = Packet {
                        header: rtc::rtp::header::Header {
                            version: 2,
                            payload_type: negotiated.codec.payload_type(),
                            sequence_number: seq,
                            timestamp,
                            ssrc,
                            ..Default::default()
                        },
                        payload: Bytes::copy_from_slice(&encoded),
                    };
                    seq = seq.wrapping_add(1);
                    timestamp = timestamp.wrapping_add(FRAME as u32);
                    if let Ok(raw) = packet.marshal() {
                        let _ = rtp.send_to(&raw, remote).await;
                        packets = packets.wrapping_add(1);
                        octets = octets.wrapping_add(FRAME as u32);
                    }
                    if playing && queue.is_empty() {
                        playing = false;
                        if events.send(FromMedia::Drained).await.is_err() {
                            return;
                        }
                    }
                    if !silent_told && last_heard.elapsed() > timeout {
                        silent_told = true;
                        if events.send(FromMedia::Silent).await.is_err() {
                            return;
                        }
                    }
                }
                _ = report.tick() => {
                    let sr = rtc::rtcp::sender_report::SenderReport {
                        ssrc,
                        ntp_time: conclave_media::leg::reports::ntp(SystemTime::now()),
                        rtp_time: timestamp,
                        packet_count: packets,
                        octet_count: octets,
                        reports: Vec::new(),
                        profile_extensions: Bytes::new(),
                    };
                    let mut raw = BytesMut::zeroed(sr.marshal_size());
                    if sr.marshal_to(&mut raw).is_ok() {
                        let _ = rtcp.send_to(&raw, remote_rtcp).await;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_press_is_read_once_whatever_its_repeats() {
        let mut r = DtmfReader::default();
        // Start, continuation, three end packets of `5`, then `#`.
        assert_eq!(r.read(1000, &[5, 10, 0, 160]), Some('5'));
        assert_eq!(r.read(1000, &[5, 10, 1, 64]), None);
        for _ in 0..3 {
            assert_eq!(r.read(1000, &[5, 0x80 | 10, 3, 32]), None);
        }
        assert_eq!(r.read(2600, &[11, 10, 0, 160]), Some('#'));
        assert_eq!(r.read(4000, &[10, 10, 0, 160]), Some('*'));
        assert_eq!(r.read(5000, &[12, 10, 0, 160]), None, "A is not an IVR key");
        assert_eq!(r.read(6000, &[1]), None, "short");
    }
}
