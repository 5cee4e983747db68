//! The IVR's prompts as audio: 8 kHz, 16-bit, mono WAV files named after
//! each prompt's wire name. The recordings in `src/sip/prompts/` (made by
//! `scripts/prompts`) are built into the binary; `[sip] prompts_dir`
//! replaces any of them with an operator's own file of the same name.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::phone::ivr::Prompt;

/// Samples a second.
pub const RATE: u32 = 8000;
/// Longest prompt taken, in seconds.
const MAX_SECONDS: usize = 60;

/// Every prompt's samples.
#[derive(Clone)]
pub struct Prompts(HashMap<&'static str, Arc<[i16]>>);

macro_rules! built_in {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_bytes!(concat!("prompts/", $name, ".wav")))),*]
    };
}

const BUILT_IN: &[(&str, &[u8])] = built_in!(
    "enter_access_code",
    "enter_security_code",
    "enter_moderator_pin",
    "invalid_access_code",
    "invalid_security_code",
    "invalid_moderator_pin",
    "joined",
    "room_locked",
    "blocked",
    "room_full",
    "try_later",
    "too_many_attempts",
    "locked",
    "unlocked",
    "not_allowed",
    "waiting",
    "denied",
);

/// Why a prompt file is refused (at start-up, naming the file).
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("{0}: {1}")]
    Unreadable(String, std::io::Error),
    #[error("{0}: {1} (an 8 kHz, 16-bit, mono WAV file is needed)")]
    Format(String, &'static str),
}

impl Prompts {
    pub fn load(dir: Option<&Path>) -> Result<Self, PromptError> {
        let mut map = HashMap::new();
        for prompt in Prompt::ALL {
            let name = prompt.as_str();
            let own = dir.map(|d| d.join(format!("{name}.wav")));
            let samples = match own.filter(|p| p.exists()) {
                Some(path) => {
                    let shown = path.display().to_string();
                    let bytes = std::fs::read(&path)
                        .map_err(|e| PromptError::Unreadable(shown.clone(), e))?;
                    read_wav(&bytes).map_err(|why| PromptError::Format(shown, why))?
                }
                None => {
                    let (_, bytes) = BUILT_IN
                        .iter()
                        .find(|(n, _)| *n == name)
                        .expect("every prompt has a built-in recording");
                    read_wav(bytes).map_err(|why| PromptError::Format(name.into(), why))?
                }
            };
            map.insert(name, samples.into());
        }
        Ok(Self(map))
    }

    pub fn get(&self, prompt: Prompt) -> Arc<[i16]> {
        self.0[prompt.as_str()].clone()
    }
}

/// The samples of a RIFF/WAVE file holding 16-bit PCM, mono, 8 kHz.
pub fn read_wav(bytes: &[u8]) -> Result<Vec<i16>, &'static str> {
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err("not a RIFF/WAVE file");
    }
    let mut at = 12;
    let mut format_ok = false;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        let body = bytes
            .get(at + 8..at + 8 + size)
            .ok_or("a chunk runs past the end")?;
        match id {
            b"fmt " => {
                if body.len() < 16 {
                    return Err("the format chunk is short");
                }
                let tag = u16::from_le_bytes([body[0], body[1]]);
                let channels = u16::from_le_bytes([body[2], body[3]]);
                let rate = u32::from_le_bytes(body[4..8].try_into().unwrap());
                let bits = u16::from_le_bytes([body[14], body[15]]);
                // 0xfffe: WAVE_FORMAT_EXTENSIBLE, as sox writes some files.
                if !(tag == 1 || tag == 0xfffe) || channels != 1 || rate != RATE || bits != 16 {
                    return Err("not 16-bit PCM, mono, 8000 Hz");
                }
                format_ok = true;
            }
            b"data" => {
                if !format_ok {
                    return Err("the data comes before the format");
                }
                if size / 2 > MAX_SECONDS * RATE as usize {
                    return Err("longer than a minute");
                }
                return Ok(body
                    .chunks_exact(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]))
                    .collect());
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        at += 8 + size + (size & 1);
    }
    Err("no data chunk")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_prompt_loads_and_is_heard() {
        let prompts = Prompts::load(None).unwrap();
        for p in Prompt::ALL {
            let s = prompts.get(p);
            assert!(s.len() > RATE as usize / 2, "{p:?} is under half a second");
            let loud = s.iter().filter(|x| x.unsigned_abs() > 1000).count();
            assert!(loud > s.len() / 20, "{p:?} is nearly silent");
        }
    }

    #[test]
    fn an_operators_file_replaces_one_and_a_wrong_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut wav = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\x40\x1f\0\0\x80\x3e\0\0\x02\0\x10\0data\x08\0\0\0".to_vec();
        wav.extend([1, 0, 2, 0, 3, 0, 4, 0]);
        std::fs::write(dir.path().join("joined.wav"), &wav).unwrap();
        let prompts = Prompts::load(Some(dir.path())).unwrap();
        assert_eq!(&*prompts.get(Prompt::Joined), &[1, 2, 3, 4]);
        assert!(prompts.get(Prompt::Locked).len() > 1000);
        wav[24] = 0x44; // 44.1 kHz-ish: refused
        std::fs::write(dir.path().join("joined.wav"), &wav).unwrap();
        let err = Prompts::load(Some(dir.path())).err().unwrap().to_string();
        assert!(err.contains("joined.wav") && err.contains("8000"), "{err}");
        assert!(read_wav(b"RIFF").is_err());
    }
}
