//! A transport-wide feedback read straight from its bytes
//! (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1) into the
//! packets it reports on. The rtc crate's reader built a packet object, a
//! list of chunks and a list of deltas for every feedback, ten or more a
//! second for every subscriber, only for them to be walked once here.

use super::{Observation, Sent};

/// The RTCP packet type and format of a transport-wide feedback.
const PT: u8 = 205;
const FMT: u8 = 15;

/// Whether `packet` (one RTCP packet of a compound one) is a
/// transport-wide feedback.
pub fn is_feedback(packet: &[u8]) -> bool {
    packet.len() >= 2 && packet[1] == PT && packet[0] & 0x1f == FMT
}

/// How many statuses a packet status chunk holds: a run's length, or a
/// vector's 14 one-bit or 7 two-bit symbols.
fn symbols_in(chunk: u16) -> usize {
    match (chunk >> 15, (chunk >> 14) & 1) {
        (0, _) => usize::from(chunk & 0x1fff),
        (_, 0) => 14,
        _ => 7,
    }
}

/// The `k`th status of a chunk (0 not received, 1 received with a small
/// delta, 2 with a large one, 3 reserved).
fn symbol(chunk: u16, k: usize) -> u8 {
    match (chunk >> 15, (chunk >> 14) & 1) {
        (0, _) => ((chunk >> 13) & 0b11) as u8,
        (_, 0) => ((chunk >> (13 - k)) & 1) as u8,
        _ => ((chunk >> (12 - 2 * k)) & 0b11) as u8,
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

impl Sent {
    /// The packets the feedback `fb` (one RTCP packet, its header
    /// included) reports on, in the order they were sent, into `out`; a
    /// number this leg did not send (or sent too long ago) is skipped.
    /// Nothing is added for a packet too short to be a feedback; a
    /// feedback cut short gives the packets it fully reports on.
    pub fn read_feedback(&self, fb: &[u8], out: &mut Vec<Observation>) {
        let (Some(base), Some(count)) = (u16_at(fb, 12), u16_at(fb, 14)) else {
            return;
        };
        let (Some(&r0), Some(&r1), Some(&r2)) = (fb.get(16), fb.get(17), fb.get(18)) else {
            return;
        };
        let count = usize::from(count);
        // The chunks run until they hold `count` statuses; the deltas
        // follow them.
        let mut deltas = 20;
        let mut statuses = 0;
        while statuses < count {
            let Some(chunk) = u16_at(fb, deltas) else {
                return;
            };
            statuses += symbols_in(chunk);
            deltas += 2;
        }
        out.reserve(count);
        let mut at_us = i64::from(u32::from_be_bytes([0, r0, r1, r2])) * 64_000;
        let mut i = 0usize;
        let mut chunk_at = 20;
        while i < count && chunk_at < deltas {
            let chunk = u16_at(fb, chunk_at).unwrap_or_default();
            chunk_at += 2;
            for k in 0..symbols_in(chunk).min(count - i) {
                let seq = base.wrapping_add(i as u16);
                i += 1;
                let arrival_us = match symbol(chunk, k) {
                    0 => None,
                    1 => {
                        let Some(&d) = fb.get(deltas) else { return };
                        deltas += 1;
                        at_us += i64::from(d) * 250;
                        Some(at_us)
                    }
                    2 => {
                        let Some(d) = u16_at(fb, deltas) else { return };
                        deltas += 2;
                        at_us += i64::from(d as i16) * 250;
                        Some(at_us)
                    }
                    _ => continue,
                };
                out.extend(self.observation(seq, arrival_us));
            }
        }
    }
}
