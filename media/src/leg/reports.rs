//! Sender reports for what a leg sends (RFC 3550 §6.4.1): per SSRC, the
//! counts and the RTP time that matches the wall clock, which a receiver
//! needs to sync audio with video and to measure the round trip.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rtc::rtcp::sender_report::SenderReport;

/// How often each stream is reported.
pub const INTERVAL: Duration = Duration::from_secs(1);

struct Stream {
    ssrc: u32,
    clock_rate: u32,
    packets: u32,
    octets: u32,
    /// The last packet's RTP timestamp and when it went out.
    last: Option<(u32, Instant)>,
}

#[derive(Default)]
pub struct Reports {
    streams: Vec<Stream>,
    next: Option<Instant>,
}

impl Reports {
    /// Counts a packet sent on `ssrc`.
    pub fn sent(
        &mut self,
        now: Instant,
        ssrc: u32,
        clock_rate: u32,
        timestamp: u32,
        payload: usize,
    ) {
        let i = match self.streams.iter().position(|s| s.ssrc == ssrc) {
            Some(i) => i,
            None => {
                self.streams.push(Stream {
                    ssrc,
                    clock_rate,
                    packets: 0,
                    octets: 0,
                    last: None,
                });
                self.next.get_or_insert(now + INTERVAL);
                self.streams.len() - 1
            }
        };
        let s = &mut self.streams[i];
        s.packets = s.packets.wrapping_add(1);
        s.octets = s.octets.wrapping_add(payload as u32);
        s.last = Some((timestamp, now));
    }

    /// Stops reporting `ssrc`.
    pub fn forget(&mut self, ssrc: u32) {
        self.streams.retain(|s| s.ssrc != ssrc);
    }

    pub fn due(&self) -> Option<Instant> {
        self.next
    }

    /// The reports due at `now`, if any.
    pub fn take(&mut self, now: Instant, wall: SystemTime) -> Vec<SenderReport> {
        match self.next {
            Some(at) if at <= now => {}
            _ => return Vec::new(),
        }
        self.next = Some(now + INTERVAL);
        let ntp = ntp(wall);
        self.streams
            .iter()
            .filter_map(|s| {
                let (timestamp, at) = s.last?;
                let since = now.saturating_duration_since(at);
                let ticks = since.as_nanos() * u128::from(s.clock_rate) / 1_000_000_000;
                Some(SenderReport {
                    ssrc: s.ssrc,
                    ntp_time: ntp,
                    rtp_time: timestamp.wrapping_add(ticks as u32),
                    packet_count: s.packets,
                    octet_count: s.octets,
                    ..Default::default()
                })
            })
            .collect()
    }
}

/// 64-bit NTP time: seconds since 1900 and a 32-bit fraction (the SIP
/// edge's sender reports use it too).
pub fn ntp(wall: SystemTime) -> u64 {
    const UNIX_TO_NTP: u64 = 2_208_988_800;
    let since = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs() + UNIX_TO_NTP;
    let fraction = (u64::from(since.subsec_nanos()) << 32) / 1_000_000_000;
    (seconds << 32) | fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_sending_stream_is_reported_once_a_second_with_its_clock_carried_forward() {
        let t0 = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let mut r = Reports::default();
        assert!(r.take(t0, wall).is_empty(), "nothing sent, nothing due");
        r.sent(t0, 5, 90_000, 1_000, 1_200);
        r.sent(t0 + Duration::from_millis(100), 5, 90_000, 10_000, 800);
        r.sent(t0, 6, 48_000, 0, 100);
        assert!(r.take(t0 + Duration::from_millis(999), wall).is_empty());

        let at = t0 + Duration::from_millis(1_100);
        let reports = r.take(at, wall);
        assert_eq!(reports.len(), 2);
        let video = &reports[0];
        assert_eq!(
            (video.ssrc, video.packet_count, video.octet_count),
            (5, 2, 2_000)
        );
        // 1 s after the last packet at 90 kHz.
        assert_eq!(video.rtp_time, 10_000 + 90_000);
        assert_eq!(video.ntp_time >> 32, 1_000_000_000 + 2_208_988_800);
        assert_eq!(reports[1].rtp_time, 48_000 + 4_800);
        assert!(r.take(at, wall).is_empty(), "not again before the interval");
        assert_eq!(r.due(), Some(at + INTERVAL));

        r.forget(5);
        assert_eq!(r.take(at + INTERVAL, wall).len(), 1);
    }
}
