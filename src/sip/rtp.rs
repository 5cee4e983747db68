//! One call's RTP: a task that owns the call's RTP and RTCP sockets, sends
//! a 20 ms G.711 frame every 20 ms, reads the caller's packets (its voice
//! goes to the room through [`PhoneAudio`], RFC 4733 key presses become
//! digits), sends an RTCP sender report every 5 s, and says when the
//! caller has gone quiet for longer than the timeout.
//!
//! What is sent: the prompt being played, else the room's audio, else
//! silence. Once the caller is in a room, the room's frames set the pace
//! (each is sent as it comes, so it waits for no timer of ours); the
//! task's own 20 ms timer fills in only while no room frames come.
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

use conclave_actors::media::{PhoneAudio, PhoneFrame};

use super::g711;
use super::sdp::Negotiated;

/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME: usize = 160;
const PTIME: Duration = Duration::from_millis(20);
const REPORT_EVERY: Duration = Duration::from_secs(5);
const MAX_DATAGRAM: usize = 1500;
/// Room frames this recent mean the room sets the pace.
const ROOM_PACE: Duration = Duration::from_millis(50);

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
    /// The caller's voice out, the room's audio in.
    pub audio: Arc<PhoneAudio>,
}

/// Cuts a caller's decoded audio into 20 ms frames numbered from the RTP
/// timestamp, so the room's jitter buffer can put them in order. Packets
/// of whole frames (20 ms, as our answer asks, or 40, 60) are numbered
/// from their timestamps; any other size is gathered into frames in
/// arrival order.
#[derive(Default)]
pub struct Framer {
    /// The first packet's timestamp: frames are numbered from it.
    base: Option<u32>,
    pcm: Vec<i16>,
    /// The frame number the gathered samples start at.
    gathered_seq: u16,
}

impl Framer {
    pub fn push(&mut self, timestamp: u32, samples: &[i16], mut out: impl FnMut(u16, PhoneFrame)) {
        let offset = timestamp.wrapping_sub(*self.base.get_or_insert(timestamp));
        let frame_of = |offset: u32| (offset / FRAME as u32) as u16;
        let whole_frames =
            samples.len().is_multiple_of(FRAME) && offset.is_multiple_of(FRAME as u32);
        if self.pcm.is_empty() && whole_frames {
            for (k, chunk) in samples.chunks_exact(FRAME).enumerate() {
                out(frame_of(offset).wrapping_add(k as u16), to_frame(chunk));
            }
            return;
        }
        if self.pcm.is_empty() {
            self.gathered_seq = frame_of(offset);
        }
        self.pcm.extend_from_slice(samples);
        let whole = self.pcm.len() / FRAME * FRAME;
        for chunk in self.pcm[..whole].chunks_exact(FRAME) {
            out(self.gathered_seq, to_frame(chunk));
            self.gathered_seq = self.gathered_seq.wrapping_add(1);
        }
        self.pcm.drain(..whole);
    }
}

fn to_frame(chunk: &[i16]) -> PhoneFrame {
    let mut f = [0i16; FRAME];
    f.copy_from_slice(chunk);
    f
}

impl RtpSession {
    pub async fn run(self, mut commands: mpsc::Receiver<ToMedia>, events: mpsc::Sender<FromMedia>) {
        let RtpSession {
            rtp,
            rtcp,
            mut negotiated,
            signalling,
            timeout,
            audio,
        } = self;
        let mut remote = negotiated.remote;
        let mut remote_rtcp = SocketAddr::new(remote.ip(), remote.port().wrapping_add(1));
        let mut latched = false;
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
        let mut decoded = Vec::with_capacity(FRAME);
        let mut framer = Framer::default();
        let mut room_paced: Option<Instant> = None;
        let mut sender = Sender {
            ssrc: rand::random(),
            seq: rand::random(),
            timestamp: rand::random(),
            packets: 0,
            octets: 0,
        };
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
                    if packet.header.payload_type == negotiated.codec.payload_type() {
                        decoded.clear();
                        g711::decode(negotiated.codec, &packet.payload, &mut decoded);
                        framer.push(packet.header.timestamp, &decoded, |seq, f| audio.heard(seq, f));
                    } else if Some(packet.header.payload_type) == negotiated.dtmf {
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
                _ = audio.said() => {
                    while let Some(room) = audio.next_said() {
                        room_paced = Some(Instant::now());
                        next_frame(&mut queue, Some(&room), &mut frame);
                        sender.send(&rtp, remote, negotiated.codec, &frame, &mut encoded).await;
                    }
                    if playing && queue.is_empty() {
                        playing = false;
                        if events.send(FromMedia::Drained).await.is_err() {
                            return;
                        }
                    }
                }
                _ = tick.tick() => {
                    if room_paced.is_none_or(|at| at.elapsed() > ROOM_PACE) {
                        next_frame(&mut queue, None, &mut frame);
                        sender.send(&rtp, remote, negotiated.codec, &frame, &mut encoded).await;
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
                _ = report.tick() => sender.report(&rtcp, remote_rtcp).await,
            }
        }
    }
}

/// The next 20 ms to send: the prompt playing (a `*5` answer is heard over
/// the room), else the room's frame, else silence (left empty).
fn next_frame(prompt: &mut VecDeque<i16>, room: Option<&PhoneFrame>, frame: &mut Vec<i16>) {
    frame.clear();
    match room {
        Some(room) if prompt.is_empty() => frame.extend_from_slice(room),
        _ => {
            let take = prompt.len().min(FRAME);
            frame.extend(prompt.drain(..take));
        }
    }
}

/// Our RTP stream's numbering and counts.
struct Sender {
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    packets: u32,
    octets: u32,
}

impl Sender {
    /// Sends one 20 ms frame (padded with silence).
    async fn send(
        &mut self,
        rtp: &UdpSocket,
        to: SocketAddr,
        codec: super::sdp::Codec,
        frame: &[i16],
        encoded: &mut Vec<u8>,
    ) {
        encoded.clear();
        g711::encode(codec, frame, encoded);
        encoded.resize(FRAME, g711::silence(codec));
        let packet = Packet {
            header: rtc::rtp::header::Header {
                version: 2,
                payload_type: codec.payload_type(),
                sequence_number: self.seq,
                timestamp: self.timestamp,
                ssrc: self.ssrc,
                ..Default::default()
            },
            payload: Bytes::copy_from_slice(encoded),
        };
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(FRAME as u32);
        if let Ok(raw) = packet.marshal() {
            let _ = rtp.send_to(&raw, to).await;
            self.packets = self.packets.wrapping_add(1);
            self.octets = self.octets.wrapping_add(FRAME as u32);
        }
    }

    async fn report(&self, rtcp: &UdpSocket, to: SocketAddr) {
        let sr = rtc::rtcp::sender_report::SenderReport {
            ssrc: self.ssrc,
            ntp_time: conclave_media::leg::reports::ntp(SystemTime::now()),
            rtp_time: self.timestamp,
            packet_count: self.packets,
            octet_count: self.octets,
            reports: Vec::new(),
            profile_extensions: Bytes::new(),
        };
        let mut raw = BytesMut::zeroed(sr.marshal_size());
        if sr.marshal_to(&mut raw).is_ok() {
            let _ = rtcp.send_to(&raw, to).await;
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

    #[test]
    fn frames_are_numbered_from_timestamps_or_gathered() {
        let mut f = Framer::default();
        let mut got = Vec::new();
        // Numbered from the first packet's timestamp, whatever it is.
        f.push(1_000_007, &[1; FRAME], |s, fr| got.push((s, fr[0])));
        f.push(1_000_007 + 2 * 160, &[2; 2 * FRAME], |s, fr| {
            got.push((s, fr[0]))
        });
        f.push(1_000_007 + 160, &[5; FRAME], |s, fr| got.push((s, fr[0])));
        assert_eq!(got, vec![(0, 1), (2, 2), (3, 2), (1, 5)]);
        got.clear();
        // 10 ms packets: two make a frame.
        let mut f = Framer::default();
        f.push(80, &[3; 80], |s, fr| got.push((s, fr[0])));
        assert!(got.is_empty());
        f.push(160, &[4; 80], |s, fr| got.push((s, fr[80])));
        assert_eq!(got, vec![(0, 4)]);
    }
}
