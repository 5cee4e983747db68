//! One published track: its layers (one stream, or up to three from a
//! simulcast publisher), who receives it, and what happens to each of its
//! packets before the copies go out. [`Published::admit`] drops repeats,
//! reads the audio level, checks the publisher's gates, renumbers past
//! packets held back by a gate (a mute), so subscribers see no loss where
//! there was none, and strips header extensions, whose ids mean nothing on
//! another connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use conclave_actors::media::TrackSource;
use conclave_actors::ParticipantId;
use rtc::rtp::Packet;
use rtc::rtp_transceiver::RTCRtpReceiverId;

use crate::dedup::SeqWindow;
use crate::gates::Gates;
use crate::history::History;
use crate::keyframes::KeyframeThrottle;
use crate::recording::Tap;
use crate::speaker::{audio_level, SpeakerDetector};
use crate::watch::{Numbered, Watch};

/// Identifies a published track within a room.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TrackKey {
    pub publisher: ParticipantId,
    pub track_id: String,
}

/// A connection of the room's forwarder.
pub type ConnId = u64;

/// One subscriber's copy of a published track.
pub struct Subscription {
    pub member: ParticipantId,
    pub conn: ConnId,
    pub gates: Arc<Gates>,
    pub ssrc: u32,
    pub payload_type: u8,
    /// The codec's, for the sender reports.
    pub clock_rate: u32,
    /// Video: whether the subscriber shows it now, and which layer it
    /// gets.
    pub watch: Watch,
    /// Video: the height of the subscriber's tile, in device pixels, when
    /// it said (a simulcast track's smallest layer that fills it is sent).
    pub want_height: Option<u32>,
    /// Video: the layer its bandwidth allows (`Some(None)`: none, paused),
    /// once the subscriber's estimate is known.
    pub allowed: Option<Option<usize>>,
}

impl Subscription {
    /// This subscriber's copy of an admitted packet, numbered as `n` says:
    /// its own SSRC and the server's payload type; the payload is shared.
    pub fn copy_as(&self, packet: &Packet, n: Numbered) -> Packet {
        let mut copy = packet.clone();
        copy.header.ssrc = self.ssrc;
        copy.header.payload_type = self.payload_type;
        copy.header.sequence_number = n.seq;
        copy.header.timestamp = n.ts;
        if let Some(payload) = n.pictures.apply(&packet.payload) {
            copy.payload = payload.into();
        }
        copy
    }
}

/// A stream's bit rate over the last whole second it was measured.
#[derive(Debug, Default)]
pub struct RateMeter {
    bytes: u64,
    since: Option<Instant>,
    bps: u64,
}

impl RateMeter {
    /// A packet of `bytes` (headers included) came at `now`.
    pub fn add(&mut self, now: Instant, bytes: usize) {
        let since = *self.since.get_or_insert(now);
        self.bytes += bytes as u64;
        let elapsed = now.saturating_duration_since(since);
        if elapsed >= std::time::Duration::from_secs(1) {
            self.bps = self.bytes * 8 * 1000 / (elapsed.as_millis() as u64).max(1);
            self.bytes = 0;
            self.since = Some(now);
        }
    }

    /// Bit/s; 0 until a second was measured.
    pub fn bps(&self) -> u64 {
        self.bps
    }
}

/// One stream of a published track: the track itself, or one simulcast
/// layer of it (RFC 8853), each with its own SSRC, numbers and clock.
pub struct Layer {
    /// The RID that names it (`None` without simulcast).
    pub rid: Option<String>,
    pub media_ssrc: u32,
    /// The picture height its last keyframe gave, once one came.
    pub height: Option<u16>,
    /// When its last packet came: a layer the publisher stopped sending
    /// (its encoder dropped it) is not chosen.
    pub heard: Option<Instant>,
    /// What it costs a subscriber, measured as it comes in.
    pub rate: RateMeter,
    /// Video only: what subscribers may ask to be sent again.
    history: Option<History>,
    window: SeqWindow,
    /// What the publisher lost on the way in (quality.rs).
    pub arrivals: crate::quality::Arrivals,
    held_back: u16,
    keyframes: KeyframeThrottle,
}

impl Layer {
    fn new(rid: Option<String>, media_ssrc: u32, video: bool) -> Self {
        Self {
            rid,
            media_ssrc,
            height: None,
            heard: None,
            rate: RateMeter::default(),
            history: video.then(History::default),
            window: SeqWindow::default(),
            arrivals: Default::default(),
            held_back: 0,
            keyframes: KeyframeThrottle::default(),
        }
    }
}

/// Counters the benchmark and tests read.
#[derive(Debug, Default)]
pub struct Counters {
    /// Packets received from publishers.
    pub received: AtomicU64,
    /// Packet copies written to subscribers.
    pub forwarded: AtomicU64,
    /// Repeats dropped.
    pub duplicates: AtomicU64,
    /// Held back by a gate (mute, removal, screen not allowed).
    pub gated: AtomicU64,
    /// Copies sent again because a subscriber reported them lost.
    pub resent: AtomicU64,
    /// NACKed copies not sent again: the connection's budget was spent.
    pub resend_refused: AtomicU64,
    /// NACKed copies not sent again: sent again less than a round trip
    /// ago, and maybe still on the way.
    pub resend_early: AtomicU64,
    /// Ticks of the phone callers' mix, over every room.
    pub phone_mix_ticks: AtomicU64,
    /// CPU time those ticks took (the forwarder thread's clock), in µs.
    pub phone_mix_cpu_us: AtomicU64,
    /// What subscribers said back: NACK packets, keyframe requests (PLI,
    /// FIR) and bandwidth estimates (REMB).
    pub nacks: AtomicU64,
    pub keyframe_requests: AtomicU64,
    pub estimates: AtomicU64,
    /// Those estimates by size: under 500 kbit/s, under 2 Mbit/s, more.
    pub estimates_low: AtomicU64,
    pub estimates_mid: AtomicU64,
    pub estimates_high: AtomicU64,
    /// Moves of a subscription to another simulcast layer.
    pub layer_switches: AtomicU64,
    /// Subscribers' receiver reports by the loss they tell (under 3 %,
    /// under 10 %, more) and by round trip (under 300 ms, 600 ms, more):
    /// quality.rs.
    pub reports_loss_low: AtomicU64,
    pub reports_loss_mid: AtomicU64,
    pub reports_loss_high: AtomicU64,
    pub reports_rtt_low: AtomicU64,
    pub reports_rtt_mid: AtomicU64,
    pub reports_rtt_high: AtomicU64,
    /// Video subscriptions now, over every room, by what each is sent
    /// ([`crate::quality::LAYER_STATES`]): quality.rs `LayerTally`.
    pub subscriptions: [std::sync::atomic::AtomicI64; 6],
}

impl Counters {
    /// One estimate of what a subscriber can receive, in bit/s: its
    /// client's REMB, or the server's own after a transport-wide feedback.
    pub fn estimate(&self, bps: u64) {
        self.estimates.fetch_add(1, Ordering::Relaxed);
        let bucket = match bps {
            0..=499_999 => &self.estimates_low,
            500_000..=1_999_999 => &self.estimates_mid,
            _ => &self.estimates_high,
        };
        bucket.fetch_add(1, Ordering::Relaxed);
    }
}

pub struct Published {
    pub key: TrackKey,
    pub source: TrackSource,
    /// The publisher's connection and the receiver the track arrives on.
    pub conn: ConnId,
    pub receiver: RTCRtpReceiverId,
    /// In the order they arrived.
    pub layers: Vec<Layer>,
    pub gates: Arc<Gates>,
    pub audio_level_id: Option<u8>,
    pub subscribers: Vec<Subscription>,
    pub tap: Option<Tap>,
    /// Which layer the recording takes (the largest), as a subscriber
    /// would.
    pub recorded: Watch,
}

impl Published {
    /// A track and its first layer (`rid` names it, for a simulcast
    /// publisher).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        key: TrackKey,
        source: TrackSource,
        conn: ConnId,
        receiver: RTCRtpReceiverId,
        media_ssrc: u32,
        rid: Option<String>,
        gates: Arc<Gates>,
        audio_level_id: Option<u8>,
    ) -> Self {
        let video = !source.is_audio();
        Self {
            key,
            source,
            conn,
            receiver,
            layers: vec![Layer::new(rid, media_ssrc, video)],
            gates,
            audio_level_id: audio_level_id.filter(|_| source.is_audio()),
            subscribers: Vec::new(),
            tap: None,
            recorded: Watch::new(false),
        }
    }

    /// Another simulcast layer of the track; its index.
    pub fn add_layer(&mut self, rid: Option<String>, media_ssrc: u32) -> usize {
        let video = !self.source.is_audio();
        self.layers.push(Layer::new(rid, media_ssrc, video));
        self.layers.len() - 1
    }

    /// The layer a packet with this SSRC is of.
    pub fn layer_of(&self, ssrc: u32) -> Option<usize> {
        if self.layers.len() == 1 {
            return Some(0);
        }
        self.layers.iter().position(|l| l.media_ssrc == ssrc)
    }

    /// The packet of layer `l` as subscribers get it (before their
    /// numbers, SSRC and payload type), or `None` when it is a repeat or
    /// held back.
    pub fn admit(
        &mut self,
        l: usize,
        mut packet: Packet,
        speakers: &mut SpeakerDetector,
        counters: &Counters,
    ) -> Option<Packet> {
        counters.received.fetch_add(1, Ordering::Relaxed);
        let layer = self.layers.get_mut(l)?;
        if !layer.window.fresh(packet.header.sequence_number) {
            counters.duplicates.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        layer.arrivals.heard(packet.header.sequence_number);
        // A muted or removed publisher is held back, and does not speak.
        let open = self.gates.open(self.source);
        if let (true, Some(id)) = (open, self.audio_level_id) {
            if let Some(level) = audio_level(&packet, id) {
                speakers.report(self.key.publisher, level);
            }
        }
        if !open {
            layer.held_back = layer.held_back.wrapping_add(1);
            counters.gated.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        packet.header.sequence_number = packet.header.sequence_number.wrapping_sub(layer.held_back);
        packet.header.extension = false;
        packet.header.extensions.clear();
        packet.header.extension_profile = 0;
        // Kept from the publisher's extensions otherwise, and an extension
        // set on a copy later would be written with the wrong length.
        packet.header.extensions_padding = 0;
        if let Some(history) = &mut layer.history {
            history.keep(&packet);
        }
        Some(packet)
    }

    /// A packet of layer `l` sent before, as [`Published::admit`] gave
    /// it, if still kept.
    pub fn resend(&self, l: usize, seq: u16) -> Option<&Packet> {
        self.layers.get(l)?.history.as_ref()?.get(seq)
    }

    /// Whether a keyframe of layer `l` may be asked for now (video, and
    /// not within the throttle's interval of the last request).
    pub fn keyframe_due(&mut self, l: usize, now: Instant) -> bool {
        !self.source.is_audio()
            && self
                .layers
                .get_mut(l)
                .is_some_and(|x| x.keyframes.allow(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u16) -> Packet {
        let mut p = Packet::default();
        p.header.sequence_number = seq;
        p.header.extension = true;
        p.header.extension_profile = 0xBEDE;
        p
    }

    #[test]
    fn a_copy_can_carry_an_extension_of_the_servers_whatever_the_publisher_sent() {
        use rtc::shared::marshal::{Marshal, Unmarshal};
        // The publisher's packet: a 2-byte extension, padded to 4.
        let mut sent = packet(7);
        sent.header.extension = false;
        sent.header
            .set_extension(1, bytes::Bytes::from_static(&[1, 2]))
            .unwrap();
        sent.payload = bytes::Bytes::from_static(b"frame");
        let wire = sent.marshal().unwrap();
        let received = Packet::unmarshal(&mut wire.clone()).unwrap();
        let mut t = Published::new(
            TrackKey {
                publisher: ParticipantId::new(),
                track_id: "v".into(),
            },
            TrackSource::Camera,
            1,
            Default::default(),
            5,
            None,
            Arc::new(Gates::new(true)),
            None,
        );
        let counters = Counters::default();
        let mut copy = t
            .admit(0, received, &mut SpeakerDetector::default(), &counters)
            .unwrap();
        copy.header
            .set_extension(3, bytes::Bytes::from_static(&[0, 42]))
            .unwrap();
        let read = Packet::unmarshal(&mut copy.marshal().unwrap()).unwrap();
        assert_eq!(read.header.get_extension(3).as_deref(), Some(&[0, 42][..]));
        assert_eq!(read.header.get_extension(1), None);
        assert_eq!(&read.payload[..], b"frame");
    }

    #[test]
    fn repeats_are_dropped_and_a_mute_leaves_no_gap() {
        let gates = Arc::new(Gates::new(true));
        let mut t = Published::new(
            TrackKey {
                publisher: ParticipantId::new(),
                track_id: "a".into(),
            },
            TrackSource::Microphone,
            1,
            Default::default(),
            5,
            None,
            gates.clone(),
            None,
        );
        let (mut speakers, counters) = (SpeakerDetector::default(), Counters::default());
        let mut seqs = Vec::new();
        for (seq, muted) in [(1, false), (1, false), (2, true), (3, true), (4, false)] {
            gates.mute(muted);
            if let Some(p) = t.admit(0, packet(seq), &mut speakers, &counters) {
                assert!(!p.header.extension && p.header.extensions.is_empty());
                seqs.push(p.header.sequence_number);
            }
        }
        assert_eq!(seqs, vec![1, 2], "held back twice, renumbered past them");
        assert_eq!(counters.duplicates.load(Ordering::Relaxed), 1);
        assert_eq!(counters.gated.load(Ordering::Relaxed), 2);
        assert_eq!(counters.received.load(Ordering::Relaxed), 5);
        assert!(!t.keyframe_due(0, Instant::now()), "audio has no keyframes");
    }

    #[test]
    fn a_video_packet_can_be_sent_again_as_subscribers_got_it() {
        let gates = Arc::new(Gates::new(true));
        let key = |id: &str| TrackKey {
            publisher: ParticipantId::new(),
            track_id: id.into(),
        };
        let mut cam = Published::new(
            key("c"),
            TrackSource::Screen,
            1,
            Default::default(),
            5,
            None,
            gates.clone(),
            None,
        );
        let mut mic = Published::new(
            key("m"),
            TrackSource::Microphone,
            1,
            Default::default(),
            6,
            None,
            gates.clone(),
            None,
        );
        let (mut speakers, counters) = (SpeakerDetector::default(), Counters::default());
        for seq in [10, 11] {
            cam.admit(0, packet(seq), &mut speakers, &counters);
            mic.admit(0, packet(seq), &mut speakers, &counters);
        }
        gates.allow_screen(false);
        cam.admit(0, packet(12), &mut speakers, &counters);
        gates.allow_screen(true);
        cam.admit(0, packet(13), &mut speakers, &counters);
        // 13 went out as 12, without its extensions.
        let again = cam.resend(0, 12).expect("kept");
        assert!(!again.header.extension && again.header.extensions.is_empty());
        assert!(cam.resend(0, 13).is_none(), "never sent under that number");
        assert!(cam.resend(0, 10).is_some());
        assert!(mic.resend(0, 10).is_none(), "audio is not sent again");

        // A second layer keeps numbers and history of its own.
        let l = cam.add_layer(Some("h".into()), 7);
        assert_eq!(
            (cam.layer_of(7), cam.layer_of(5), cam.layer_of(9)),
            (Some(l), Some(0), None)
        );
        assert!(
            cam.admit(l, packet(10), &mut speakers, &counters).is_some(),
            "not a repeat of layer 0's 10"
        );
        assert!(cam.resend(l, 11).is_none());

        // 1,250 bytes every 10 ms: 1 Mbit/s, known once a second went by.
        let mut meter = RateMeter::default();
        let t0 = Instant::now();
        for ms in 0..=1000u64 {
            if ms % 10 == 0 {
                meter.add(t0 + std::time::Duration::from_millis(ms), 1250);
            }
            if ms == 990 {
                assert_eq!(meter.bps(), 0);
            }
        }
        assert_eq!(meter.bps(), 1_010_000, "101 packets in the first second");
    }
}
