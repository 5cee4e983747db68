//! Phone callers in the forwarder: a caller's track is published like a
//! web microphone (its packets made here, from the caller's voice), web
//! microphones are handed to the callers' mix after their gates, and a
//! 20 ms tick runs the mix while anyone calls in (see [`crate::phone`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use conclave_actors::media::{PhoneAudio, TrackSource};
use conclave_actors::ParticipantId;

use super::Forwarder;
use crate::gates::Gates;
use crate::phone::{self, Caller};
use crate::published::{ConnId, Published, TrackKey};

/// The connection a caller's track names: none (ids start at 1), so
/// nothing on a connection is ever taken for it.
const NO_CONN: ConnId = 0;

impl Forwarder {
    pub(super) fn attach_phone(
        &mut self,
        member: ParticipantId,
        gates: Arc<Gates>,
        audio: Arc<PhoneAudio>,
    ) {
        if self.members.contains_key(&member) || self.phone_caller(member) {
            self.detach(member);
        }
        let ssrc = crate::conn::random_u32().max(1);
        let caller = match Caller::new(audio, gates.clone(), ssrc) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(conference = %self.conference, error = %e, "no Opus encoder for a caller");
                return;
            }
        };
        self.phones
            .get_or_insert_with(Box::default)
            .callers
            .insert(member, caller);
        let key = TrackKey {
            publisher: member,
            track_id: phone::TRACK_ID.into(),
        };
        let published = Published::new(
            key,
            TrackSource::Microphone,
            NO_CONN,
            Default::default(),
            ssrc,
            None,
            gates,
            Some(phone::LEVEL_ID),
        );
        self.publish(published);
        tracing::debug!(conference = %self.conference, member = %member, "caller's audio attached");
    }

    fn phone_caller(&self, member: ParticipantId) -> bool {
        self.phones
            .as_ref()
            .is_some_and(|p| p.callers.contains_key(&member))
    }

    /// Drops what the callers' mix holds of `member`; answers whether it
    /// was a caller. The last caller gone, the mix goes.
    pub(super) fn forget_phone(&mut self, member: ParticipantId) -> bool {
        let Some(phones) = &mut self.phones else {
            return false;
        };
        let caller = phones.forget(member);
        if let Some(c) = &caller {
            c.gates.detach();
        }
        if phones.callers.is_empty() {
            self.phones = None;
        }
        caller.is_some()
    }

    /// A web microphone's admitted packet, for the callers.
    pub(super) fn hand_to_callers(&mut self, i: usize, packet: &rtc::rtp::Packet) {
        if let Some(phones) = &mut self.phones {
            let track = &self.tracks[i];
            if track.source.is_audio() {
                phones.hear(track.key.publisher, track.layers[0].media_ssrc, packet);
            }
        }
    }

    /// One 20 ms tick of the callers' audio both ways, its CPU time
    /// counted (docs/performance.md: the mixer's cost per frame).
    pub(super) fn phone_tick(&mut self) {
        let Some(phones) = &mut self.phones else {
            return;
        };
        let started = thread_cpu_us();
        let packets = phones.tick();
        for (caller, packet) in packets {
            let Some(i) = self
                .tracks
                .iter()
                .position(|t| t.key.publisher == caller && t.conn == NO_CONN)
            else {
                continue;
            };
            self.forward(i, 0, packet);
        }
        let counters = &self.shared.counters;
        counters.phone_mix_ticks.fetch_add(1, Ordering::Relaxed);
        counters
            .phone_mix_cpu_us
            .fetch_add(thread_cpu_us().saturating_sub(started), Ordering::Relaxed);
    }
}

/// This thread's CPU time, in µs: the tick's own cost, whatever else the
/// machine runs meanwhile.
fn thread_cpu_us() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill; the clock id is a constant the
    // kernel knows.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0) / 1_000
}
