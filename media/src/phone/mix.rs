//! The room's audio for phone callers: every voice of the tick summed once,
//! and each caller given the sum less its own voice, so a room of N callers
//! costs one sum and N subtractions rather than N mixes of N − 1 voices.

use conclave_actors::media::{PhoneFrame, PHONE_FRAME};

pub struct Mix {
    sum: [i32; PHONE_FRAME],
}

impl Default for Mix {
    fn default() -> Self {
        Self {
            sum: [0; PHONE_FRAME],
        }
    }
}

impl Mix {
    pub fn clear(&mut self) {
        self.sum = [0; PHONE_FRAME];
    }

    pub fn add(&mut self, frame: &[i16]) {
        for (s, x) in self.sum.iter_mut().zip(frame) {
            *s += i32::from(*x);
        }
    }

    /// Everyone but `own`, clipped to 16 bits.
    pub fn without(&self, own: Option<&PhoneFrame>) -> PhoneFrame {
        let mut out = [0i16; PHONE_FRAME];
        let own = own.unwrap_or(&[0; PHONE_FRAME]);
        for ((o, s), x) in out.iter_mut().zip(&self.sum).zip(own) {
            *o = (s - i32::from(*x)).clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
        }
        out
    }
}

/// A frame's level as RFC 6464 puts it: -dBov, 0 the loudest, 127 silence.
pub fn level(frame: &[i16]) -> u8 {
    let energy: f64 = frame.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    let rms = (energy / frame.len().max(1) as f64).sqrt();
    if rms < 1.0 {
        return 127;
    }
    let dbov = 20.0 * (rms / 32767.0).log10();
    (-dbov).clamp(0.0, 127.0) as u8
}

/// The amplitude of the `hz` component of 8 kHz `samples` (a Goertzel
/// filter): how the tests find a tone in what a caller or a page heard.
pub fn tone(samples: &[i16], hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / 8000.0;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in samples {
        let s = f64::from(x) + c * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - c * s1 * s2).max(0.0).sqrt() * 2.0 / samples.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_caller_hears_everyone_but_themselves() {
        let a = [1000i16; PHONE_FRAME];
        let b = [-300i16; PHONE_FRAME];
        let web = [20_000i16; PHONE_FRAME];
        let mut m = Mix::default();
        for f in [&a, &b, &web] {
            m.add(f);
        }
        assert_eq!(m.without(Some(&a))[0], 19_700);
        assert_eq!(m.without(Some(&b))[0], 21_000);
        assert_eq!(m.without(None)[0], 20_700);
        m.add(&web);
        assert_eq!(m.without(None)[5], i16::MAX, "clipped, not wrapped");
        m.clear();
        assert_eq!(m.without(None), [0; PHONE_FRAME]);
    }

    #[test]
    fn levels_are_minus_dbov() {
        assert_eq!(level(&[0; PHONE_FRAME]), 127);
        assert_eq!(level(&[i16::MAX; PHONE_FRAME]), 0);
        // A tenth of full scale is 20 dB down.
        assert_eq!(level(&[3277; PHONE_FRAME]), 19);
    }
}
