//! What phone callers cost the media plane per 20 ms frame: the Opus
//! encoding of one caller's voice (at the complexity shipped and others),
//! the decoding of one browser microphone, and one tick of a room's mix
//! with 10 callers and 0 to 4 web speakers (every caller's voice encoded,
//! every microphone decoded once, each caller's sum less its own).
//!
//! Run with `cargo bench --bench phone`; figures go to docs/performance.md.

use std::hint::black_box;
use std::sync::Arc;

use conclave_actors::media::{PhoneAudio, PhoneFrame, PHONE_FRAME};
use conclave_actors::ParticipantId;
use conclave_media::gates::Gates;
use conclave_media::phone::{codec, Caller, Phones};
use conclave_media::rtc::rtp::Packet;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

/// Speech-like 8 kHz audio: two partials whose pitch wanders, and noise.
fn voice(n: usize, rate: f32) -> Vec<i16> {
    let mut seed = 0x2545_f491_u32;
    (0..n)
        .map(|i| {
            let t = i as f32 / rate;
            let pitch = 140.0 + 30.0 * (t * 3.0).sin();
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let noise = (seed % 600) as f32 - 300.0;
            let s = 5000.0 * (std::f32::consts::TAU * pitch * t).sin()
                + 2500.0 * (std::f32::consts::TAU * 3.0 * pitch * t).sin()
                + noise;
            s as i16
        })
        .collect()
}

fn frames(pcm: &[i16]) -> Vec<PhoneFrame> {
    pcm.chunks_exact(PHONE_FRAME)
        .map(|c| c.try_into().unwrap())
        .collect()
}

/// A browser's microphone: 48 kHz Opus voice packets, 20 ms each.
fn browser_packets(n: usize) -> Vec<Vec<u8>> {
    let mut enc = opus_rs::OpusEncoder::new(48_000, 1, opus_rs::Application::Voip).unwrap();
    enc.bitrate_bps = 32_000;
    let pcm = voice(960 * n, 48_000.0);
    let mut buf = vec![0u8; 1275];
    pcm.chunks_exact(960)
        .map(|c| {
            let len = enc.encode_i16(c, 960, &mut buf).unwrap();
            buf[..len].to_vec()
        })
        .collect()
}

fn encode(c: &mut Criterion) {
    let frames = frames(&voice(PHONE_FRAME * 50, 8_000.0));
    let mut group = c.benchmark_group("phone_encode_20ms");
    for complexity in [9, 5, 3, 1] {
        let mut enc = opus_rs::OpusEncoder::new(8_000, 1, opus_rs::Application::Voip).unwrap();
        enc.bitrate_bps = 24_000;
        enc.complexity = complexity;
        let mut buf = vec![0u8; 1275];
        let mut i = 0;
        group.bench_function(BenchmarkId::new("complexity", complexity), |b| {
            b.iter(|| {
                i = (i + 1) % frames.len();
                black_box(enc.encode_i16(&frames[i], PHONE_FRAME, &mut buf).unwrap())
            })
        });
    }
    let mut shipped = codec::Encoder::new().unwrap();
    let mut out = Vec::new();
    let mut i = 0;
    group.bench_function("shipped", |b| {
        b.iter(|| {
            i = (i + 1) % frames.len();
            out.clear();
            shipped.encode(&frames[i], &mut out).unwrap();
            black_box(out.len())
        })
    });
    group.finish();
    let packets = browser_packets(50);
    let mut decoder = codec::Decoder::new().unwrap();
    let mut pcm = Vec::new();
    let mut i = 0;
    c.bench_function("phone_decode_browser_20ms", |b| {
        b.iter(|| {
            i = (i + 1) % packets.len();
            pcm.clear();
            decoder.decode(Some(&packets[i]), &mut pcm).unwrap();
            black_box(pcm.len())
        })
    });
}

/// One room: `callers` callers who all speak, `speakers` web microphones.
fn mix(c: &mut Criterion) {
    let frames = frames(&voice(PHONE_FRAME * 50, 8_000.0));
    let packets = browser_packets(50);
    let mut group = c.benchmark_group("phone_mix_tick");
    for (callers, speakers) in [(10, 0), (10, 1), (10, 2), (10, 4), (1, 1), (20, 2)] {
        let mut phones = Phones::default();
        let audio: Vec<Arc<PhoneAudio>> = (0..callers).map(|_| PhoneAudio::new()).collect();
        for (n, a) in audio.iter().enumerate() {
            let caller = Caller::new(a.clone(), Arc::new(Gates::new(false)), n as u32 + 1).unwrap();
            phones.callers.insert(ParticipantId::new(), caller);
        }
        let web: Vec<ParticipantId> = (0..speakers).map(|_| ParticipantId::new()).collect();
        let mut seq = 0u16;
        group.bench_function(
            BenchmarkId::from_parameter(format!("{callers}_callers_{speakers}_speakers")),
            |b| {
                b.iter(|| {
                    seq = seq.wrapping_add(1);
                    let k = usize::from(seq) % frames.len();
                    for a in &audio {
                        a.heard(seq, frames[k]);
                    }
                    for (n, p) in web.iter().enumerate() {
                        let mut packet = Packet::default();
                        packet.header.sequence_number = seq;
                        packet.payload = packets[k].clone().into();
                        phones.hear(*p, n as u32 + 100, &packet);
                    }
                    let out = phones.tick();
                    for a in &audio {
                        black_box(a.next_said());
                    }
                    black_box(out.len())
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, encode, mix);
criterion_main!(benches);
