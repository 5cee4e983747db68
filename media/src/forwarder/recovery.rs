//! A participant whose media connection with the server failed (its DTLS
//! handshake ran out of retransmissions, or 30 s passed without consent)
//! gets new ones: both of its connections go, its tracks leave the others
//! as when it leaves, and the client is told (`media_reset`) to connect
//! again, which it does as after a forwarder restart. A connection the
//! client closed or never reached is replaced only if it was itself a
//! replacement (the network may still be down). Without this a
//! participant whose link dropped for half a minute stayed in the room
//! seeing and sending nothing, with no error anywhere.

use std::time::{Duration, Instant};

use conclave_actors::media::MediaEvent;
use conclave_actors::ParticipantId;

use super::Forwarder;

/// After a retry, how long the next one waits at first; each wait after
/// it is twice the last, up to [`LONGEST_WAIT`]. A client that cannot
/// connect at all (a network that drops everything) then costs a fresh
/// pair of connections every few minutes, not every half-minute.
const FIRST_WAIT: Duration = Duration::from_secs(10);
const LONGEST_WAIT: Duration = Duration::from_secs(120);
/// So long without a retry, and the waits start again from the first.
const QUIET: Duration = Duration::from_secs(600);

/// When a member's failed connections may be replaced again.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Backoff {
    not_before: Option<Instant>,
    wait: Duration,
    /// A failure came too soon after the last retry: retry once allowed.
    owed: bool,
}

impl Backoff {
    /// Whether a retry may start at `now`; if so, the next one waits
    /// longer, and if not, one is owed.
    pub(super) fn take(&mut self, now: Instant) -> bool {
        if self.not_before.is_some_and(|t| now < t) {
            self.owed = true;
            return false;
        }
        self.owed = false;
        if self.not_before.is_some_and(|t| now >= t + QUIET) {
            self.wait = Duration::ZERO;
        }
        self.wait = if self.wait.is_zero() {
            FIRST_WAIT
        } else {
            (self.wait * 2).min(LONGEST_WAIT)
        };
        self.not_before = Some(now + self.wait);
        true
    }

    /// A retry is owed and allowed at `now`.
    pub(super) fn due(&self, now: Instant) -> bool {
        self.owed && self.not_before.is_none_or(|t| now >= t)
    }
}

impl Forwarder {
    /// Retries that waited out their backoff (every few seconds).
    pub(super) fn reconnect_owed(&mut self) {
        let now = Instant::now();
        let owed: Vec<ParticipantId> = self
            .members
            .iter()
            .filter(|(_, m)| m.backoff.due(now))
            .map(|(id, _)| *id)
            .collect();
        for member in owed {
            self.reconnect(member);
        }
    }

    /// `member`'s connection failed: both go, and the client connects
    /// again; too soon after the last time, once the wait is over.
    pub(super) fn reconnect(&mut self, member: ParticipantId) {
        let Some(m) = self.members.get_mut(&member) else {
            return;
        };
        if !m.backoff.take(Instant::now()) {
            tracing::debug!(conference = %self.conference, member = %member, "media connection failed: connecting again after a wait");
            return;
        }
        tracing::info!(conference = %self.conference, member = %member, "media connection failed: connecting again");
        m.recovering = true;
        let ids = [m.publish.take(), m.subscribe.take()];
        m.offering = false;
        m.dirty = false;
        m.sources.clear();
        m.audio_level_id = None;
        for id in ids.into_iter().flatten() {
            self.close_conn(id);
        }
        self.withdraw(member);
        // Told before the new subscribe offer, which the client must take
        // on a new connection.
        self.emit(MediaEvent::Reconnect(member));
        self.subscribe_to_others(member);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_retried_at_once_and_one_soon_after_once_a_wait_doubling_each_time_is_over() {
        let t = Instant::now();
        let mut b = Backoff::default();
        assert!(b.take(t), "the first at once");
        assert!(!b.due(t + Duration::from_secs(60)), "none owed");
        assert!(!b.take(t + Duration::from_secs(9)));
        assert!(!b.due(t + Duration::from_secs(9)), "owed, after the wait");
        assert!(b.due(t + Duration::from_secs(10)));
        assert!(b.take(t + Duration::from_secs(10)));
        assert!(!b.due(t + Duration::from_secs(60)), "paid");
        assert!(!b.take(t + Duration::from_secs(29)), "then 20 s");
        assert!(b.take(t + Duration::from_secs(30)));
        let mut at = t + Duration::from_secs(30);
        for _ in 0..10 {
            at += LONGEST_WAIT;
            assert!(b.take(at), "never more than {LONGEST_WAIT:?}");
        }
        assert!(!b.take(at + LONGEST_WAIT - Duration::from_secs(1)));
        // Long after the last retry, a new failure is retried at once, and
        // the waits start again from the first.
        let later = at + Duration::from_secs(3600);
        assert!(b.take(later));
        assert!(!b.take(later + FIRST_WAIT - Duration::from_secs(1)));
        assert!(b.take(later + FIRST_WAIT));
    }
}
