//! Opus for phone callers, at the telephone's 8 kHz: a caller's voice is
//! encoded from 8 kHz (Opus narrowband), and browsers' 48 kHz Opus is
//! decoded straight to 8 kHz by the decoder, so no resampler is needed
//! either way.

use conclave_actors::media::PHONE_FRAME;

const RATE: i32 = 8_000;
/// Narrowband speech: more buys nothing a telephone line carries.
const BITRATE: i32 = 24_000;
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

pub struct Decoder {
    inner: opus_rs::OpusDecoder,
    buf: Vec<f32>,
}

impl Decoder {
    pub fn new() -> Result<Self, String> {
        Ok(Self {
            inner: opus_rs::OpusDecoder::new(RATE, 1).map_err(|e| e.to_string())?,
            buf: vec![0.0; MAX_SAMPLES],
        })
    }

    /// Decodes a packet, or conceals a lost one (`None`: 20 ms), appending
    /// 8 kHz samples to `out`.
    pub fn decode(&mut self, packet: Option<&[u8]>, out: &mut Vec<i16>) -> Result<(), String> {
        let (packet, most) = match packet {
            Some(p) => (p, MAX_SAMPLES),
            None => (&[][..], PHONE_FRAME),
        };
        let n = self
            .inner
            .decode(packet, most, &mut self.buf)
            .map_err(|e| e.to_string())?;
        out.extend(
            self.buf[..n.min(most)]
                .iter()
                .map(|x| (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16),
        );
        Ok(())
    }
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
