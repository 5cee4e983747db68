//! What subscribers say back: keyframe requests, passed on to the
//! publisher at most once per throttle interval; NACKs, answered from the
//! track's history within each connection's budget; and what they can
//! receive (REMB, or the server's own estimate from transport-wide
//! feedback), which the allocation divides (forwarder/bandwidth.rs).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;

use super::Forwarder;
use crate::published::ConnId;

/// The round trip within which a copy is not sent again, as the
/// connection's is taken: at least a millisecond, so the same loss twice
/// in one NACK goes once; at most a second, so one report from a client
/// with a wrong clock cannot keep repairs from going for long.
const RESEND_ROUND_TRIP: (Duration, Duration) = (Duration::from_millis(1), Duration::from_secs(1));

impl Forwarder {
    /// Transport-wide feedback: the server's own estimate, when it makes
    /// one, is the one the allocation divides.
    pub(super) fn on_transport(&mut self, id: ConnId, observed: &[crate::bwe::Observation]) {
        let Some(c) = self.conns.get_mut(&id).and_then(|c| c.sub()) else {
            return;
        };
        if let Some(bwe) = c.bwe.as_mut() {
            let now = Instant::now();
            bwe.on_feedback(observed, now);
            c.estimate = Some((bwe.estimate(), now));
            self.shared.counters.estimate(bwe.estimate());
        }
    }

    pub(super) fn on_feedback(&mut self, id: ConnId, packets: &[Box<dyn rtc::rtcp::Packet>]) {
        let Some(c) = self.conns.get_mut(&id).and_then(|c| c.sub()) else {
            return;
        };
        let mut asked = Vec::new();
        let mut lost = Vec::new();
        for p in packets.iter() {
            if let Some(rr) = p.as_any().downcast_ref::<ReceiverReport>() {
                let by_ssrc = &c.by_ssrc;
                c.reception.heard(
                    &rr.reports,
                    SystemTime::now(),
                    |s| by_ssrc.contains_key(&s),
                    &self.shared.counters,
                );
            } else if let Some(remb) = p.as_any().downcast_ref::<ReceiverEstimatedMaximumBitrate>()
            {
                // What the client's own estimator says it can receive.
                if remb.bitrate.is_finite() && remb.bitrate >= 0.0 {
                    if c.bwe.is_none() {
                        c.estimate = Some((remb.bitrate as u64, Instant::now()));
                    }
                    self.shared.counters.estimate(remb.bitrate as u64);
                }
            } else if crate::keyframes::is_keyframe_request(p.as_ref()) {
                self.shared
                    .counters
                    .keyframe_requests
                    .fetch_add(1, Ordering::Relaxed);
                asked.extend(p.destination_ssrc().iter().filter_map(|s| c.by_ssrc.get(s)));
            } else if let Some(nack) = p.as_any().downcast_ref::<TransportLayerNack>() {
                self.shared.counters.nacks.fetch_add(1, Ordering::Relaxed);
                if let Some(key) = c.by_ssrc.get(&nack.media_ssrc) {
                    lost.push((key, nack));
                }
            }
        }
        let asked: Vec<usize> = asked
            .into_iter()
            .filter_map(|key| self.tracks.iter().position(|t| t.key == *key))
            .collect();
        let lost: Vec<(usize, &TransportLayerNack)> = lost
            .into_iter()
            .filter_map(|(key, nack)| Some((self.tracks.iter().position(|t| t.key == *key)?, nack)))
            .collect();
        for (i, nack) in lost {
            self.resend(id, i, nack);
        }
        for i in asked {
            // For the layer this subscriber gets, or waits for.
            let layer = self.tracks[i]
                .subscribers
                .iter()
                .find(|s| s.conn == id)
                .and_then(|s| s.watch.awaiting_keyframe().or(s.watch.current()));
            if let Some(l) = layer {
                self.request_keyframe(i, l);
            }
        }
    }

    /// Sends connection `id` again the copies of track `i` its NACK reports
    /// lost, from the track's history, within the connection's budget.
    fn resend(&mut self, id: ConnId, i: usize, nack: &TransportLayerNack) {
        let track = &self.tracks[i];
        let Some(sub) = track.subscribers.iter().find(|s| s.conn == id) else {
            return;
        };
        // The gates as for a first copy: nothing again to someone removed
        // since, nor of a publisher removed, muted or refused the screen
        // since.
        if !sub.gates.receiving() || !track.gates.open(track.source) {
            return;
        }
        let Some(c) = self.conns.get_mut(&id).and_then(|c| c.sub()) else {
            return;
        };
        let now = Instant::now();
        let counters = &self.shared.counters;
        let round_trip = c.reception.rtt().map_or(Duration::ZERO, |r| {
            r.clamp(RESEND_ROUND_TRIP.0, RESEND_ROUND_TRIP.1)
        });
        for seq in crate::history::lost(nack) {
            // Its numbers are its own: past what it was not sent while
            // hidden, across layers.
            let Some(packet) = sub.watch.resend(seq).and_then(|(l, s)| track.resend(l, s)) else {
                continue;
            };
            match c.leg.resend_due(sub.ssrc, seq, now, round_trip) {
                // Not a copy it remembers sending.
                None => continue,
                Some(false) => {
                    counters.resend_early.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                Some(true) => {}
            }
            if !c.resends.take(now) {
                counters.resend_refused.fetch_add(1, Ordering::Relaxed);
                break;
            }
            let n = crate::watch::Numbered {
                seq,
                ts: sub.watch.timestamp(packet.header.timestamp),
                switched: false,
                pictures: sub.watch.pictures(),
            };
            if c.leg
                .resend_rtp(now, sub.copy_as(packet, n), sub.clock_rate, &mut self.out)
            {
                counters.resent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Asks track `i`'s publisher for a keyframe of layer `l`, at most
    /// once per throttle interval.
    pub(super) fn request_keyframe(&mut self, i: usize, l: usize) {
        let track = &mut self.tracks[i];
        if !track.keyframe_due(l, Instant::now()) {
            return;
        }
        let (conn, receiver, media_ssrc) = (track.conn, track.receiver, track.layers[l].media_ssrc);
        tracing::debug!(conference = %self.conference, track = i, layer = l, media_ssrc, "keyframe asked");
        let Some(pc) = self.conns.get_mut(&conn).and_then(|c| c.pc()) else {
            return;
        };
        if let Some(mut r) = pc.rtp_receiver(receiver) {
            let pli = PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc,
            };
            let _ = r.write_rtcp(Instant::now(), vec![Box::new(pli)]);
        }
        self.touch(conn);
    }
}
