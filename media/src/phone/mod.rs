//! Phone callers in a room's media. Each caller's voice (8 kHz PCM from
//! the SIP edge, through [`PhoneAudio`]) is put in order by a jitter
//! buffer, encoded to Opus and published as the caller's microphone, so it
//! is forwarded, gated, recorded and heard as the active speaker like any
//! web microphone. Back the other way, every web microphone is decoded
//! once per room (to 8 kHz, by the Opus decoder itself), and each tick of
//! 20 ms every caller is given the sum of the room's voices less its own.
//!
//! Nothing here exists in a room without callers: web-only rooms decode
//! nothing.

pub mod codec;
pub mod jitter;
pub mod mix;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use conclave_actors::media::{PhoneAudio, PhoneFrame, TrackSource, PHONE_FRAME};
use conclave_actors::ParticipantId;
use rtc::rtp::Packet;

use crate::gates::Gates;
use codec::{Decoder, Encoder};
use jitter::{Jitter, Out};
use mix::Mix;

/// The RFC 6464 header extension id a caller's packets carry their level
/// in, for the speaker detector (stripped before they are forwarded).
pub const LEVEL_ID: u8 = 1;
/// A caller's track, as its `TrackKey` names it.
pub const TRACK_ID: &str = "phone";
/// Opus's RTP clock is 48 kHz whatever the audio's rate.
const TICKS_PER_FRAME: u32 = 960;

/// One caller.
pub struct Caller {
    pub audio: Arc<PhoneAudio>,
    pub gates: Arc<Gates>,
    jitter: Jitter<PhoneFrame>,
    encoder: Encoder,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    /// This tick's voice, if it went into the mix.
    in_mix: Option<PhoneFrame>,
    arrived: Vec<(u16, PhoneFrame)>,
    encoded: Vec<u8>,
}

impl Caller {
    pub fn new(audio: Arc<PhoneAudio>, gates: Arc<Gates>, ssrc: u32) -> Result<Self, String> {
        // What the caller said before being seated is not played now.
        audio.forget_heard();
        Ok(Self {
            audio,
            gates,
            jitter: Jitter::default(),
            encoder: Encoder::new()?,
            ssrc,
            seq: rand::random(),
            timestamp: rand::random(),
            in_mix: None,
            arrived: Vec::new(),
            encoded: Vec::new(),
        })
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// This tick's frame of the caller's voice as an Opus packet carrying
    /// its level, if the caller's audio had one.
    fn tick(&mut self) -> Option<(Packet, PhoneFrame)> {
        self.arrived.clear();
        self.audio.take_heard(&mut self.arrived);
        for (seq, frame) in self.arrived.drain(..) {
            self.jitter.push(seq, frame);
        }
        let timestamp = self.timestamp;
        self.timestamp = self.timestamp.wrapping_add(TICKS_PER_FRAME);
        let frame = match self.jitter.pop() {
            Out::Frame(f) => f,
            // G.711 has no concealment of its own; a gap is a gap.
            Out::Lost | Out::Empty => return None,
        };
        // A muted caller's packet would be held back at the gate: it is
        // not worth the encoding, the largest cost of a call.
        if !self.gates.open(TrackSource::Microphone) {
            return None;
        }
        self.encoded.clear();
        if let Err(e) = self.encoder.encode(&frame, &mut self.encoded) {
            tracing::debug!(error = %e, "a caller's frame was not encoded");
            return None;
        }
        let mut packet = Packet::default();
        packet.header.version = 2;
        packet.header.payload_type = crate::peer::OPUS_PT;
        packet.header.sequence_number = self.seq;
        packet.header.timestamp = timestamp;
        packet.header.ssrc = self.ssrc;
        let level = mix::level(&frame);
        let _ = packet
            .header
            .set_extension(LEVEL_ID, Bytes::copy_from_slice(&[level]));
        packet.payload = Bytes::copy_from_slice(&self.encoded);
        self.seq = self.seq.wrapping_add(1);
        Some((packet, frame))
    }
}

/// A web microphone, decoded for the callers.
struct Voice {
    jitter: Jitter<Bytes>,
    decoder: Decoder,
    /// Decoded samples not yet mixed (a 40 or 60 ms packet lasts ticks).
    pcm: Vec<i16>,
    scratch: Vec<i16>,
}

impl Voice {
    /// This tick's 20 ms of the voice, if it has them.
    fn frame(&mut self) -> Option<PhoneFrame> {
        while self.pcm.len() < PHONE_FRAME {
            let packet = match self.jitter.pop() {
                Out::Frame(p) => Some(p),
                Out::Lost => None,
                Out::Empty => break,
            };
            self.scratch.clear();
            match self.decoder.decode(packet.as_deref(), &mut self.scratch) {
                Ok(()) => self.pcm.extend_from_slice(&self.scratch),
                Err(e) => tracing::debug!(error = %e, "a microphone's packet was not decoded"),
            }
        }
        if self.pcm.len() < PHONE_FRAME {
            return None;
        }
        let mut frame = [0i16; PHONE_FRAME];
        frame.copy_from_slice(&self.pcm[..PHONE_FRAME]);
        self.pcm.drain(..PHONE_FRAME);
        Some(frame)
    }
}

/// A room's callers and the voices they hear.
#[derive(Default)]
pub struct Phones {
    pub callers: HashMap<ParticipantId, Caller>,
    /// Web microphones by publisher and SSRC.
    voices: HashMap<(ParticipantId, u32), Voice>,
    mix: Mix,
}

impl Phones {
    /// A web microphone's packet, as subscribers get it (after the gates).
    pub fn hear(&mut self, publisher: ParticipantId, ssrc: u32, packet: &Packet) {
        if self.callers.contains_key(&publisher) {
            return;
        }
        let voice = match self.voices.entry((publisher, ssrc)) {
            std::collections::hash_map::Entry::Occupied(v) => v.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => match Decoder::new() {
                Ok(decoder) => v.insert(Voice {
                    jitter: Jitter::default(),
                    decoder,
                    pcm: Vec::new(),
                    scratch: Vec::new(),
                }),
                Err(e) => {
                    tracing::warn!(error = %e, "no Opus decoder for a microphone");
                    return;
                }
            },
        };
        voice
            .jitter
            .push(packet.header.sequence_number, packet.payload.clone());
    }

    /// A participant left: their voice and their call go.
    pub fn forget(&mut self, who: ParticipantId) -> Option<Caller> {
        self.voices.retain(|(p, _), _| *p != who);
        self.callers.remove(&who)
    }

    /// One 20 ms tick: every caller gets the room's audio less its own;
    /// answers the callers' packets to publish, by caller.
    pub fn tick(&mut self) -> Vec<(ParticipantId, Packet)> {
        self.mix.clear();
        for voice in self.voices.values_mut() {
            if let Some(frame) = voice.frame() {
                self.mix.add(&frame);
            }
        }
        let mut packets = Vec::new();
        for (id, caller) in self.callers.iter_mut() {
            caller.in_mix = None;
            // A muted caller has no packet, and is left out of the other
            // callers' mix too.
            if let Some((packet, frame)) = caller.tick() {
                self.mix.add(&frame);
                caller.in_mix = Some(frame);
                packets.push((*id, packet));
            }
        }
        for caller in self.callers.values() {
            caller.audio.say(self.mix.without(caller.in_mix.as_ref()));
        }
        packets
    }
}
