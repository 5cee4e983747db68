//! The hot path: one packet a publisher sent, to every subscriber that
//! gets its layer (each numbered as its own stream, crate::watch), the
//! recording and the phone callers.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::{Forwarder, Link};

impl Forwarder {
    /// One packet of layer `l` of track `i`, to every subscriber whose
    /// connection is up and who gets that layer.
    pub(super) fn forward(&mut self, i: usize, l: usize, packet: rtc::rtp::Packet) {
        let counters = &self.shared.counters;
        let track = &mut self.tracks[i];
        let Some(packet) = track.admit(l, packet, &mut self.speakers, counters) else {
            return;
        };
        if self.phones.is_some() {
            self.hand_to_callers(i, &packet);
        }
        let now = Instant::now();
        let (keyframe, resized) = self.layer_heard(i, l, &packet, now);
        let track = &mut self.tracks[i];
        let counters = &self.shared.counters;
        let (seq, ts) = (packet.header.sequence_number, packet.header.timestamp);
        let (clock_rate, ids) = if track.source.is_audio() {
            (48_000, crate::vp8::Ids::default())
        } else {
            (90_000, crate::vp8::Ids::of(&packet.payload))
        };
        if let Some(tap) = &track.tap {
            if let Some(n) = track
                .recorded
                .admit(l, seq, ts, ids, keyframe, now, clock_rate)
            {
                let mut copy = packet.clone();
                copy.header.sequence_number = n.seq;
                copy.header.timestamp = n.ts;
                tap.packet(&copy);
            }
        }
        // Layers someone waits for a keyframe of (a bit each).
        let mut awaiting = 0u8;
        for sub in &mut track.subscribers {
            if !sub.gates.receiving() {
                continue;
            }
            let Some(n) = sub
                .watch
                .admit(l, seq, ts, ids, keyframe, now, sub.clock_rate)
            else {
                if let Some(wanted) = sub.watch.awaiting_keyframe() {
                    awaiting |= 1 << wanted.min(7);
                }
                continue;
            };
            if n.switched {
                counters.layer_switches.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(conference = %self.conference, member = %sub.member, track = i, layer = l, "switched");
            }
            let Some(c) = self.conns.get_mut(&sub.conn) else {
                continue;
            };
            let deadline = &mut c.deadline;
            let Link::Subscribe(s) = &mut c.link else {
                continue;
            };
            if s.leg
                .send_rtp(now, sub.copy_as(&packet, n), sub.clock_rate, &mut self.out)
            {
                counters.forwarded.fetch_add(1, Ordering::Relaxed);
                if !s.has_sent {
                    // The first copy arms the sender reports' timer.
                    s.has_sent = true;
                    *deadline = s.leg.poll_timeout();
                }
            }
        }
        // A keyframe asked for may be lost, or dropped by a busy encoder:
        // ask again (within the throttle) while someone waits for one.
        for wanted in 0..8 {
            if awaiting & (1 << wanted) != 0 {
                self.request_keyframe(i, wanted);
            }
        }
        if resized {
            self.retarget(i);
        }
    }
}
