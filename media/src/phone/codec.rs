//! Opus for phone callers, at the telephone's 8 kHz: a caller's voice is
//! encoded from 8 kHz (Opus narrowband). Browsers' Opus is decoded at
//! 16 kHz and halved to 8 kHz by a low-pass filter here: `opus-rs`
//! decodes the hybrid (SILK + CELT) packets browsers send for voice
//! wrongly when asked for 8 kHz, and right at 16 kHz (docs/phone.md).

use conclave_actors::media::PHONE_FRAME;

const RATE: i32 = 8_000;
/// Narrowband speech: more buys nothing a telephone line carries.
const BITRATE: i32 = 24_000;
/// Encoding is most of what a caller costs the server: at libopus's
/// default (9) a 20 ms frame takes 125 µs here, at 5 70 µs, and the
/// G.711 voice it encodes has little that the extra search would keep
/// (`cargo bench --bench phone`, docs/performance.md).
const COMPLEXITY: i32 = 3;
/// The longest Opus packet: 120 ms.
const MAX_SAMPLES: usize = PHONE_FRAME * 6;
/// The most bytes an encoded 20 ms frame may take.
const MAX_PACKET: usize = 1_275;

pub struct Encoder {
    inner: opus_rs::OpusEncoder,
    buf: Vec<u8>,
}

impl Encoder {
    pub fn new() -> Result<Self, String> {
        let mut inner = opus_rs::OpusEncoder::new(RATE, 1, opus_rs::Application::Voip)
            .map_err(|e| e.to_string())?;
        inner.bitrate_bps = BITRATE;
        inner.complexity = COMPLEXITY;
        Ok(Self {
            inner,
            buf: vec![0; MAX_PACKET],
        })
    }

    /// Encodes 20 ms (160 samples) into `out`.
    pub fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), String> {
        let n = self
            .inner
            .encode_i16(pcm, pcm.len(), &mut self.buf)
            .map_err(|e| e.to_string())?;
        out.extend_from_slice(&self.buf[..n]);
        Ok(())
    }
}

/// The decoder's rate: twice the telephone's.
const DECODE_RATE: i32 = 2 * RATE;
/// Taps of the halving filter: a windowed sinc cut off at 3.6 kHz.
const TAPS: usize = 31;

pub struct Decoder {
    inner: opus_rs::OpusDecoder,
    buf: Vec<f32>,
    taps: [f32; TAPS],
    /// 16 kHz samples not yet filtered, after the filter's memory.
    history: Vec<f32>,
}

impl Decoder {
    pub fn new() -> Result<Self, String> {
        Ok(Self {
            inner: opus_rs::OpusDecoder::new(DECODE_RATE, 1).map_err(|e| e.to_string())?,
            buf: vec![0.0; 2 * MAX_SAMPLES],
            taps: low_pass(),
            history: vec![0.0; TAPS - 1],
        })
    }

    /// Decodes a packet, or conceals a lost one (`None`: 20 ms), appending
    /// 8 kHz samples to `out`.
    pub fn decode(&mut self, packet: Option<&[u8]>, out: &mut Vec<i16>) -> Result<(), String> {
        let (packet, most) = match packet {
            Some(p) => (p, 2 * MAX_SAMPLES),
            None => (&[][..], 2 * PHONE_FRAME),
        };
        let n = self
            .inner
            .decode(packet, most, &mut self.buf)
            .map_err(|e| e.to_string())?;
        self.history.extend_from_slice(&self.buf[..n.min(most)]);
        // Every other sample of the filtered signal.
        let mut i = 0;
        while i + TAPS <= self.history.len() {
            let window = &self.history[i..i + TAPS];
            let y: f32 = window.iter().zip(&self.taps).map(|(x, h)| x * h).sum();
            out.push((y * 32768.0).round().clamp(-32768.0, 32767.0) as i16);
            i += 2;
        }
        self.history.drain(..i);
        Ok(())
    }
}

/// A low-pass filter for halving 16 kHz: a Hamming-windowed sinc cut off
/// at 3.6 kHz, unity gain.
fn low_pass() -> [f32; TAPS] {
    let cutoff = 3_600.0 / f64::from(DECODE_RATE);
    let mid = (TAPS - 1) as f64 / 2.0;
    let mut taps = [0.0f64; TAPS];
    for (k, t) in taps.iter_mut().enumerate() {
        let x = k as f64 - mid;
        let sinc = if x == 0.0 {
            2.0 * cutoff
        } else {
            (2.0 * std::f64::consts::PI * cutoff * x).sin() / (std::f64::consts::PI * x)
        };
        let window =
            0.54 - 0.46 * (2.0 * std::f64::consts::PI * k as f64 / (TAPS - 1) as f64).cos();
        *t = sinc * window;
    }
    let sum: f64 = taps.iter().sum();
    taps.map(|t| (t / sum) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phone::mix::tone as goertzel;

    #[test]
    fn a_tone_survives_the_round_trip_and_losses_are_concealed() {
        let (mut enc, mut dec) = (Encoder::new().unwrap(), Decoder::new().unwrap());
        let mut heard = Vec::new();
        for f in 0..50 {
            let frame: Vec<i16> = (0..PHONE_FRAME)
                .map(|i| {
                    let t = (f * PHONE_FRAME + i) as f64 / 8000.0;
                    (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
                })
                .collect();
            let mut packet = Vec::new();
            enc.encode(&frame, &mut packet).unwrap();
            assert!(!packet.is_empty() && packet.len() < 200);
            let lost = f == 30;
            dec.decode((!lost).then_some(&packet[..]), &mut heard)
                .unwrap();
        }
        assert_eq!(heard.len(), 50 * PHONE_FRAME, "a lost frame is filled in");
        let tail = &heard[10 * PHONE_FRAME..];
        let (at_440, at_1000) = (goertzel(tail, 440.0), goertzel(tail, 1000.0));
        assert!(
            at_440 > 5000.0 && at_1000 < 200.0,
            "{at_440:.0} {at_1000:.0}"
        );
    }

    #[test]
    fn a_browsers_48_khz_voice_is_heard_at_8_khz() {
        // As a browser sends voice: 48 kHz, 32 kbit/s, hybrid packets.
        let mut enc = opus_rs::OpusEncoder::new(48_000, 1, opus_rs::Application::Voip).unwrap();
        enc.bitrate_bps = 32_000;
        let mut dec = Decoder::new().unwrap();
        let (mut heard, mut packet) = (Vec::new(), vec![0u8; MAX_PACKET]);
        for f in 0..50 {
            let frame: Vec<i16> = (0..960)
                .map(|i| {
                    let t = (f * 960 + i) as f64 / 48_000.0;
                    (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
                })
                .collect();
            let n = enc.encode_i16(&frame, 960, &mut packet).unwrap();
            dec.decode(Some(&packet[..n]), &mut heard).unwrap();
        }
        assert_eq!(heard.len(), 50 * PHONE_FRAME);
        let tail = &heard[10 * PHONE_FRAME..];
        let (at_440, at_1000) = (goertzel(tail, 440.0), goertzel(tail, 1000.0));
        assert!(
            at_440 > 5000.0 && at_1000 < 200.0,
            "{at_440:.0} {at_1000:.0}"
        );
        // Above 4 kHz nothing folds back into the band.
        let mut dec = Decoder::new().unwrap();
        let mut high = Vec::new();
        for f in 0..50 {
            let frame: Vec<i16> = (0..960)
                .map(|i| {
                    let t = (f * 960 + i) as f64 / 48_000.0;
                    (8000.0 * (2.0 * std::f64::consts::PI * 5_000.0 * t).sin()) as i16
                })
                .collect();
            let n = enc.encode_i16(&frame, 960, &mut packet).unwrap();
            dec.decode(Some(&packet[..n]), &mut high).unwrap();
        }
        let folded = goertzel(&high[10 * PHONE_FRAME..], 3_000.0);
        assert!(folded < 300.0, "5 kHz folded to 3 kHz: {folded:.0}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut dec = Decoder::new().unwrap();
        let mut out = Vec::new();
        for n in 0..300usize {
            let junk: Vec<u8> = (0..n * 5 % 1500).map(|i| (i * 31 + n * 7) as u8).collect();
            let _ = dec.decode(Some(&junk), &mut out);
        }
        assert!(out.len() <= 300 * MAX_SAMPLES);
    }
}
