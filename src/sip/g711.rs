//! G.711 (ITU-T G.711, 1988): µ-law (PCMU) and A-law (PCMA), 8 kHz, one
//! byte a sample. Small and exact enough to write out: the segment
//! arithmetic of the recommendation, checked below against its table's
//! end points and by round trips.

use super::sdp::Codec;

pub fn encode(codec: Codec, pcm: &[i16], out: &mut Vec<u8>) {
    out.extend(pcm.iter().map(|&s| match codec {
        Codec::Pcmu => ulaw_encode(s),
        Codec::Pcma => alaw_encode(s),
    }));
}

pub fn decode(codec: Codec, bytes: &[u8], out: &mut Vec<i16>) {
    out.extend(bytes.iter().map(|&b| match codec {
        Codec::Pcmu => ulaw_decode(b),
        Codec::Pcma => alaw_decode(b),
    }));
}

/// The silence byte, for a frame with nothing to say.
pub fn silence(codec: Codec) -> u8 {
    match codec {
        Codec::Pcmu => 0xff,
        Codec::Pcma => 0xd5,
    }
}

const BIAS: i32 = 0x84;
const CLIP: i32 = 32635;

fn ulaw_encode(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    let exponent = (7 - (s.leading_zeros() as i32 - 17)).clamp(0, 7);
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

fn ulaw_decode(byte: u8) -> i16 {
    let b = !byte;
    let exponent = i32::from((b >> 4) & 0x07);
    let mantissa = i32::from(b & 0x0f);
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    (if b & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}

fn alaw_encode(sample: i16) -> u8 {
    let s = i32::from(sample);
    let (sign, magnitude) = if s >= 0 { (0x80, s) } else { (0x00, -s - 1) };
    let magnitude = magnitude.min(0x7fff) >> 3;
    let byte = if magnitude < 32 {
        (magnitude >> 1) as u8
    } else {
        let exponent = (31 - magnitude.leading_zeros() as i32 - 4).clamp(1, 7);
        ((exponent << 4) | ((magnitude >> exponent) & 0x0f)) as u8
    };
    (sign | byte) ^ 0x55
}

fn alaw_decode(byte: u8) -> i16 {
    let b = byte ^ 0x55;
    let exponent = i32::from((b >> 4) & 0x07);
    let mantissa = i32::from(b & 0x0f);
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    (if b & 0x80 != 0 { magnitude } else { -magnitude }) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_end_points_hold() {
        assert_eq!(ulaw_encode(0), 0xff);
        assert_eq!(ulaw_decode(0xff), 0);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(alaw_encode(0), 0xd5);
        assert_eq!(alaw_decode(0xd5), 8);
        assert_eq!(alaw_decode(0xaa), 32256);
        assert_eq!(alaw_decode(0x2a), -32256);
    }

    #[test]
    fn round_trips_stay_within_the_segments_step() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            for s in (-32768..=32767).step_by(7) {
                let s = s as i16;
                let mut enc = Vec::new();
                encode(codec, &[s], &mut enc);
                let mut dec = Vec::new();
                decode(codec, &enc, &mut dec);
                let err = (i32::from(dec[0]) - i32::from(s)).abs();
                // The coarsest segment's step is 1024 (µ-law) / 1024 (A-law).
                let allowed = (i32::from(s).abs() / 16).max(16) + 16;
                assert!(err <= allowed, "{codec:?} {s} -> {} (err {err})", dec[0]);
            }
        }
    }
}
