//! Relaying keyframe requests: a subscriber's PLI or FIR becomes one PLI to
//! the publisher, at most once per interval per track, so a room of
//! subscribers joining at once does not flood the publisher's encoder.

use std::time::{Duration, Instant};

pub const MIN_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug, Default)]
pub struct KeyframeThrottle {
    last: Option<Instant>,
}

impl KeyframeThrottle {
    /// Whether a request at `now` goes to the publisher.
    pub fn allow(&mut self, now: Instant) -> bool {
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < MIN_INTERVAL)
        {
            return false;
        }
        self.last = Some(now);
        true
    }
}

/// Whether an RTCP packet asks for a keyframe.
pub fn is_keyframe_request(packet: &dyn rtc::rtcp::Packet) -> bool {
    use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
    use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
    let any = packet.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_within_the_interval_are_merged() {
        let mut t = KeyframeThrottle::default();
        let t0 = Instant::now();
        assert!(t.allow(t0));
        assert!(!t.allow(t0 + Duration::from_millis(100)));
        assert!(t.allow(t0 + MIN_INTERVAL));
    }
}
