//! One published track and the loop that forwards it. The loop runs on the
//! media runtime: it reads the publisher's RTP, drops repeats, reads the
//! audio level, checks the publisher's gates, and writes the packet to each
//! subscriber's track with that subscriber's SSRC and the server's payload
//! type. Sequence numbers are renumbered past packets held back by a gate
//! (a mute), so subscribers see no loss where there was none.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use conclave_actors::media::TrackSource;
use conclave_actors::ParticipantId;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use crate::dedup::SeqWindow;
use crate::gates::Gates;
use crate::keyframes::KeyframeThrottle;
use crate::recording::Tap;
use crate::speaker::{audio_level, SpeakerDetector};

/// Identifies a published track within a room.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TrackKey {
    pub publisher: ParticipantId,
    pub track_id: String,
}

/// One subscriber's copy of a published track.
#[derive(Clone)]
pub struct Subscription {
    pub member: ParticipantId,
    pub gates: Arc<Gates>,
    pub track: Arc<TrackLocalStaticRTP>,
    pub ssrc: u32,
    pub payload_type: u8,
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
}

pub struct Published {
    pub key: TrackKey,
    pub source: TrackSource,
    pub remote: Arc<dyn TrackRemote>,
    pub media_ssrc: u32,
    pub gates: Arc<Gates>,
    /// Swapped whole on change, so the loop reads it without holding a lock.
    subscribers: Mutex<Arc<Vec<Subscription>>>,
    keyframes: Mutex<KeyframeThrottle>,
    tap: Mutex<Option<Tap>>,
}

impl Published {
    pub fn new(
        key: TrackKey,
        source: TrackSource,
        remote: Arc<dyn TrackRemote>,
        media_ssrc: u32,
        gates: Arc<Gates>,
    ) -> Self {
        Self {
            key,
            source,
            remote,
            media_ssrc,
            gates,
            subscribers: Mutex::new(Arc::new(Vec::new())),
            keyframes: Mutex::new(KeyframeThrottle::default()),
            tap: Mutex::new(None),
        }
    }

    pub fn subscribe(&self, sub: Subscription) {
        let mut guard = self.subscribers.lock().expect("subscribers lock");
        let mut next = (**guard).clone();
        next.retain(|s| s.member != sub.member);
        next.push(sub);
        *guard = Arc::new(next);
    }

    pub fn unsubscribe(&self, member: ParticipantId) -> Option<Subscription> {
        let mut guard = self.subscribers.lock().expect("subscribers lock");
        let gone = guard.iter().find(|s| s.member == member).cloned();
        if gone.is_some() {
            let next: Vec<_> = guard
                .iter()
                .filter(|s| s.member != member)
                .cloned()
                .collect();
            *guard = Arc::new(next);
        }
        gone
    }

    fn subscribers(&self) -> Arc<Vec<Subscription>> {
        self.subscribers.lock().expect("subscribers lock").clone()
    }

    /// Starts or stops copying this track's packets to a recording.
    pub fn set_tap(&self, tap: Option<Tap>) {
        *self.tap.lock().expect("tap lock") = tap;
    }

    /// Asks the publisher for a keyframe (a subscriber joined or lost one).
    pub async fn request_keyframe(&self) {
        if self.source.is_audio() {
            return;
        }
        let allowed = self
            .keyframes
            .lock()
            .expect("keyframe lock")
            .allow(Instant::now());
        if allowed {
            let pli = PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc: self.media_ssrc,
            };
            let _ = self.remote.write_rtcp(vec![Box::new(pli)]).await;
        }
    }
}

/// Forwards `track` until it ends.
pub async fn forward(
    track: Arc<Published>,
    audio_level_id: Option<u8>,
    speakers: Arc<Mutex<SpeakerDetector>>,
    counters: Arc<Counters>,
) {
    let mut window = SeqWindow::default();
    let mut held_back: u16 = 0;
    while let Some(event) = track.remote.poll().await {
        let mut packet = match event {
            TrackRemoteEvent::OnRtpPacket(p) => p,
            TrackRemoteEvent::OnEnded => break,
            _ => continue,
        };
        counters.received.fetch_add(1, Ordering::Relaxed);
        if !window.fresh(packet.header.sequence_number) {
            counters.duplicates.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        // A muted or removed publisher is held back, and does not speak.
        let open = track.gates.open(track.source);
        if let (true, Some(id)) = (open, audio_level_id.filter(|_| track.source.is_audio())) {
            if let Some(level) = audio_level(&packet, id) {
                speakers
                    .lock()
                    .expect("speaker lock")
                    .report(track.key.publisher, level);
            }
        }
        if !open {
            held_back = held_back.wrapping_add(1);
            counters.gated.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        packet.header.sequence_number = packet.header.sequence_number.wrapping_sub(held_back);
        // The publisher's extension ids mean nothing on another connection.
        packet.header.extension = false;
        packet.header.extensions.clear();
        packet.header.extension_profile = 0;
        if let Some(tap) = track.tap.lock().expect("tap lock").as_ref() {
            tap.packet(&packet);
        }
        for sub in track.subscribers().iter() {
            // Checked again per copy: a removal acknowledged mid-packet
            // stops the copies not yet written.
            if !sub.gates.receiving() || !track.gates.open(track.source) {
                continue;
            }
            let mut copy = packet.clone();
            copy.header.ssrc = sub.ssrc;
            copy.header.payload_type = sub.payload_type;
            if sub.track.write_rtp(copy).await.is_ok() {
                counters.forwarded.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    tracing::debug!(publisher = %track.key.publisher, track = %track.key.track_id, "published track ended");
}

/// Relays one subscriber's keyframe requests for `track` to its publisher.
pub async fn relay_keyframe_requests(track: Arc<Published>, sub: Arc<TrackLocalStaticRTP>) {
    while let Some(event) = sub.poll().await {
        let TrackLocalEvent::OnRtcpPacket(packets) = event else {
            continue;
        };
        if packets
            .iter()
            .any(|p| crate::keyframes::is_keyframe_request(p.as_ref()))
        {
            track.request_keyframe().await;
        }
    }
}
