//! The `phone` scenario: C SIP callers in R rooms with W web participants
//! each. A caller is this tool's own user agent: an INVITE over UDP, an
//! ACK, its access code typed as SIP INFO, then G.711 (PCMU) every 20 ms
//! from its own RTP socket; a web participant is a WebSocket client with
//! WebRTC connections that publishes real Opus voice packets and receives
//! the callers' tracks.
//!
//! Everyone speaks on one schedule (a 20 ms frame clock shared by the
//! whole tool): silence, and once a second a 20 ms tone, the web
//! participants on frame 0 of each second and the callers on frame 25.
//! The tool notes when each tone actually left (per caller, and per room
//! for the web speakers); a receiver notes when a tone starts (a loud
//! G.711 frame for a caller, a large Opus packet on a caller's track for a
//! web participant). The time between is the mouth-to-ear latency the
//! server adds: its jitter buffer, the mix's tick, decoding and encoding,
//! forwarding, plus loopback and the receiving client's own handling. A
//! web participant knows which caller a track is from by the masked
//! number's last three digits, which are the caller's place in its room.
//! How late the tool's sends ran behind the schedule (the machine is busy)
//! is reported on its own, as the send lag.
//!
//! Loss is counted per stream from RTP sequence numbers (G.711 to the
//! callers) or timestamps (Opus from the callers: a frame the server could
//! not fill leaves a timestamp gap). Server CPU per caller comes from
//! `/proc`, the mixer's CPU per 20 ms tick from the server's own counters.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conclave::sip::g711;
use conclave::sip::sdp::Codec;
use conclave_media::peer::OPUS_PT;
use conclave_media::webrtc;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::net::UdpSocket;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;

use super::phone_web::{web, web_cycle};
use super::sip_uac::{dial, keys, Dialog};
use super::{bar, histogram, quantiles_ms, Args, Server};

const FRAME: Duration = Duration::from_millis(20);
/// Frames in one cycle of the schedule (a second).
pub(super) const CYCLE: u64 = 50;
/// Where in the cycle each side's tone is.
pub(super) const WEB_SLOT: u64 = 0;
pub(super) const CALLER_SLOT: u64 = 25;
/// Samples in one 8 kHz frame; 48 kHz RTP ticks in one Opus frame.
const SAMPLES: usize = 160;
pub(super) const OPUS_TICKS: u32 = 960;
/// A tone starts after this many quiet frames on a stream.
const QUIET_BEFORE: u32 = 5;
/// An Opus packet at least this long carries the tone: the server's
/// encoder spends a few bytes on silence and tens on a tone.
pub(super) const LOUD_OPUS_BYTES: usize = 20;
/// Mean absolute G.711 sample that counts as the tone (silence decodes to
/// almost 0, the tone averages about 5,000).
const LOUD_PCM: i32 = 1_000;

/// The tool's shared frame clock.
#[derive(Clone, Copy)]
pub(super) struct Schedule {
    epoch: Instant,
}

impl Schedule {
    pub(super) fn at(self, frame: u64) -> Instant {
        self.epoch + FRAME * frame as u32
    }

    /// How long ago the latest tone in `slot` was due, at `t`.
    fn since_tone(self, slot: u64, t: Instant) -> Option<Duration> {
        let n = (t.checked_duration_since(self.epoch)?.as_micros() / FRAME.as_micros()) as u64;
        let back = (n + CYCLE - slot) % CYCLE;
        let tone = n.checked_sub(back)?;
        t.checked_duration_since(self.at(tone))
    }

    /// Now, in µs from the epoch (as the send times are kept).
    pub(super) fn now_us(self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }
}

/// The latency of a tone heard now that left at `sent_us` (0: none yet),
/// if it is this cycle's.
pub(super) fn since(schedule: Schedule, sent_us: u64) -> Option<Duration> {
    let d = schedule.now_us().checked_sub(sent_us)?;
    (sent_us > 0 && d < 500_000).then(|| Duration::from_micros(d))
}

/// What the receivers measure while `on` is set.
pub(super) struct Measure {
    pub(super) on: AtomicBool,
    pub(super) schedule: Schedule,
    /// When each caller's latest tone left, by room and place in it (µs
    /// from the epoch).
    pub(super) caller_sent: Vec<Vec<AtomicU64>>,
    /// When each room's web speakers' latest tone left.
    pub(super) web_sent: Vec<AtomicU64>,
    pub(super) caller_to_web: Mutex<Histogram<u64>>,
    pub(super) web_to_caller: Mutex<Histogram<u64>>,
    pub(super) caller_to_caller: Mutex<Histogram<u64>>,
    /// (received, expected) frames, by direction.
    pub(super) to_web: Mutex<(u64, u64)>,
    pub(super) to_callers: Mutex<(u64, u64)>,
}

impl Measure {
    pub(super) fn record(h: &Mutex<Histogram<u64>>, d: Duration) {
        let _ = h.lock().unwrap().record(d.as_micros().max(1) as u64);
    }

    pub(super) fn add(total: &Mutex<(u64, u64)>, s: &Stream) {
        let mut t = total.lock().unwrap();
        t.0 += s.got;
        t.1 += s.expected();
    }
}

/// One received stream, during the window: frames counted by their
/// number from the first (`step` RTP units apart: 1 for sequence numbers,
/// a frame's ticks for timestamps), and quiet frames in a row.
pub(super) struct Stream {
    step: i64,
    /// The last RTP value seen and its frame number.
    prev: Option<(u32, i64)>,
    last: i64,
    got: u64,
    quiet: u32,
}

impl Stream {
    pub(super) fn new(step: u32) -> Self {
        Self {
            step: i64::from(step),
            prev: None,
            last: 0,
            got: 0,
            quiet: 0,
        }
    }

    /// Counts a frame by its RTP value (`bits` wide); answers whether a
    /// tone starts with it.
    pub(super) fn frame(&mut self, value: u32, bits: u32, loud: bool) -> bool {
        let n = match self.prev {
            None => 0,
            Some((v, n)) => {
                // The signed distance from the last value, modulo 2^bits.
                let shift = 32 - bits;
                let d = (value.wrapping_sub(v) << shift) as i32 >> shift;
                n + i64::from(d) / self.step
            }
        };
        self.prev = Some((value, n));
        // A frame from before the first (reordered) is not counted.
        if n >= 0 {
            self.last = self.last.max(n);
            self.got += 1;
        }
        let onset = loud && self.quiet >= QUIET_BEFORE;
        self.quiet = if loud { 0 } else { self.quiet + 1 };
        onset
    }

    fn expected(&self) -> u64 {
        if self.prev.is_some() {
            self.last as u64 + 1
        } else {
            0
        }
    }
}

/// Reads what the server sends one caller (in `room` at `place`): frames
/// counted, tones timed.
fn hear(rtp: Arc<UdpSocket>, measure: Arc<Measure>, room: usize, place: usize) {
    actix_web::rt::spawn(async move {
        let mut buf = [0u8; 1500];
        let mut pcm = Vec::with_capacity(SAMPLES);
        let mut stream = Stream::new(1);
        let mut was_on = false;
        loop {
            let Ok(n) = rtp.recv(&mut buf).await else {
                return;
            };
            let on = measure.on.load(Ordering::Relaxed);
            if !on {
                if std::mem::take(&mut was_on) {
                    Measure::add(&measure.to_callers, &stream);
                }
                continue;
            }
            was_on = true;
            // RTP: 12 bytes of header (ours carry no CSRC or extension).
            if n < 12 + SAMPLES || buf[1] & 0x7f != 0 {
                continue;
            }
            let seq = u16::from_be_bytes([buf[2], buf[3]]);
            pcm.clear();
            g711::decode(Codec::Pcmu, &buf[12..n], &mut pcm);
            let level = pcm.iter().map(|s| i32::from(*s).abs()).sum::<i32>() / pcm.len() as i32;
            if stream.frame(u32::from(seq), 16, level >= LOUD_PCM) {
                let now = Instant::now();
                let s = measure.schedule;
                // Whichever tone came last by the schedule: the web
                // speakers', or the other callers' (the first of them
                // to leave).
                let web = match (s.since_tone(WEB_SLOT, now), s.since_tone(CALLER_SLOT, now)) {
                    (Some(w), Some(c)) => w < c,
                    (w, _) => w.is_some(),
                };
                if web {
                    let sent = measure.web_sent[room].load(Ordering::Relaxed);
                    if let Some(d) = since(s, sent) {
                        Measure::record(&measure.web_to_caller, d);
                    }
                } else {
                    let first = measure.caller_sent[room]
                        .iter()
                        .enumerate()
                        .filter(|(k, _)| *k != place)
                        .filter_map(|(_, t)| since(s, t.load(Ordering::Relaxed)))
                        .max();
                    if let Some(d) = first {
                        Measure::record(&measure.caller_to_caller, d);
                    }
                }
            }
        }
    });
}

/// A caller who speaks: its RTP socket, where the server wants its RTP,
/// its room and place in it.
type Mouths = Arc<Mutex<Vec<(Arc<UdpSocket>, SocketAddr, usize, usize)>>>;

/// Everyone's audio, frame by frame on the shared clock, until `stop`:
/// each caller a PCMU frame (the tone on `CALLER_SLOT`), each web
/// participant an Opus packet (the tone on `WEB_SLOT`), each tone's send
/// time noted. Answers the lag of the tones' sends behind the schedule.
fn speak(
    measure: Arc<Measure>,
    callers: Mouths,
    web: Vec<(usize, Arc<TrackLocalStaticRTP>)>,
    stop: Arc<AtomicBool>,
) -> Arc<Mutex<Histogram<u64>>> {
    let schedule = measure.schedule;
    let lag = Arc::new(Mutex::new(histogram()));
    let out = lag.clone();
    actix_web::rt::spawn(async move {
        let cycle = web_cycle();
        let ssrcs: Vec<u32> = {
            let mut v = Vec::new();
            for (_, t) in &web {
                use webrtc::media_stream::Track;
                v.push(t.codings().await[0].rtp_coding_parameters.ssrc.unwrap());
            }
            v
        };
        let tone: Vec<i16> = (0..SAMPLES)
            .map(|i| (8_000.0 * (std::f32::consts::TAU * 440.0 * i as f32 / 8_000.0).sin()) as i16)
            .collect();
        let mut loud = Vec::new();
        g711::encode(Codec::Pcmu, &tone, &mut loud);
        let quiet = vec![g711::silence(Codec::Pcmu); SAMPLES];
        let mut frame = 0u64;
        while !stop.load(Ordering::Relaxed) {
            frame += 1;
            tokio::time::sleep_until(schedule.at(frame).into()).await;
            let slot = frame % CYCLE;
            let ours: Vec<_> = callers.lock().unwrap().clone();
            let mut packet = Vec::with_capacity(12 + SAMPLES);
            for (socket, to, room, place) in &ours {
                packet.clear();
                packet.extend_from_slice(&[0x80, 0]);
                packet.extend_from_slice(&(frame as u16).to_be_bytes());
                packet.extend_from_slice(
                    &((frame as u32).wrapping_mul(SAMPLES as u32)).to_be_bytes(),
                );
                packet.extend_from_slice(
                    &0x5eed_0000u32.wrapping_add(to.port().into()).to_be_bytes(),
                );
                packet.extend_from_slice(if slot == CALLER_SLOT { &loud } else { &quiet });
                let at = schedule.now_us();
                let _ = socket.send_to(&packet, to).await;
                if slot == CALLER_SLOT {
                    measure.caller_sent[*room][*place].store(at, Ordering::Relaxed);
                    Measure::record(
                        &out,
                        schedule.epoch + Duration::from_micros(at) - schedule.at(frame),
                    );
                }
            }
            let mut told = usize::MAX;
            for (i, (room, track)) in web.iter().enumerate() {
                if slot == WEB_SLOT && told != *room {
                    // The room's first speaker's tone: the one heard first.
                    told = *room;
                    let at = schedule.now_us();
                    measure.web_sent[*room].store(at, Ordering::Relaxed);
                    Measure::record(
                        &out,
                        schedule.epoch + Duration::from_micros(at) - schedule.at(frame),
                    );
                }
                let p = conclave_media::rtc::rtp::Packet {
                    header: conclave_media::rtc::rtp::header::Header {
                        version: 2,
                        payload_type: OPUS_PT,
                        sequence_number: frame as u16,
                        timestamp: (frame as u32).wrapping_mul(OPUS_TICKS),
                        ssrc: ssrcs[i],
                        ..Default::default()
                    },
                    payload: cycle[slot as usize].clone().into(),
                };
                let _ = track.write_rtp(p).await;
            }
        }
    });
    lag
}

pub async fn phone(server: &Server, args: &Args) -> Value {
    let Some(sip_port) = server.sip_port else {
        eprintln!("the phone scenario needs a server the tool starts (no --url)");
        std::process::exit(2);
    };
    let rooms = args.phone_rooms.max(1);
    let callers_n = args.callers.max(1);
    let speakers = args.speakers;
    assert!(
        callers_n.div_ceil(rooms) <= 1000,
        "at most 1,000 callers a room: a caller's place is three digits"
    );
    let measure = Arc::new(Measure {
        on: AtomicBool::new(false),
        schedule: Schedule {
            epoch: Instant::now(),
        },
        caller_sent: (0..rooms)
            .map(|_| {
                (0..callers_n.div_ceil(rooms))
                    .map(|_| AtomicU64::new(0))
                    .collect()
            })
            .collect(),
        web_sent: (0..rooms).map(|_| AtomicU64::new(0)).collect(),
        caller_to_web: Mutex::new(histogram()),
        web_to_caller: Mutex::new(histogram()),
        caller_to_caller: Mutex::new(histogram()),
        to_web: Mutex::default(),
        to_callers: Mutex::default(),
    });
    let setup = bar(rooms, "rooms");
    let seated = Arc::new(AtomicU64::new(0));
    let mut codes = Vec::new();
    let mut tracks = Vec::new();
    for r in 0..rooms {
        let (code, _) = server.line().await;
        // A room without web participants still needs someone to see its
        // callers seated: a listener who publishes nothing.
        for i in 0..speakers.max(1) {
            let counts = (i == 0).then(|| seated.clone());
            let t = web(
                server,
                &code,
                r,
                &format!("W{r}-{i}"),
                measure.clone(),
                counts,
                i < speakers,
            )
            .await;
            tracks.extend(t.map(|t| (r, t)));
        }
        codes.push(code);
        setup.inc(1);
    }
    setup.finish();
    let stop = Arc::new(AtomicBool::new(false));
    let mouths: Mouths = Arc::default();
    let lag = speak(measure.clone(), mouths.clone(), tracks, stop.clone());
    // Callers dial a few at a time, as a trunk would hand them over.
    let dialing = bar(callers_n, "callers dialled");
    let permits = Arc::new(tokio::sync::Semaphore::new(16));
    let failed = Arc::new(AtomicU64::new(0));
    let dialogs: Arc<Mutex<Vec<Dialog>>> = Arc::default();
    let mut tasks = Vec::new();
    for c in 0..callers_n {
        // Callers take places in turn: caller c is in room c % R at place
        // c / R, the last three digits of its number.
        let (r, place) = (c % rooms, c / rooms);
        let (code, permits, mouths, measure, failed, dialogs, dialing) = (
            codes[r].clone(),
            permits.clone(),
            mouths.clone(),
            measure.clone(),
            failed.clone(),
            dialogs.clone(),
            dialing.clone(),
        );
        tasks.push(actix_web::rt::spawn(async move {
            let _permit = permits.acquire().await.unwrap();
            let number = format!("+1555{r:04}{place:03}");
            let rtp = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
            let called = async {
                let (mut d, media) = dial(sip_port, &number, &rtp).await?;
                mouths.lock().unwrap().push((rtp.clone(), media, r, place));
                hear(rtp.clone(), measure, r, place);
                keys(&mut d, &format!("{code}##")).await?;
                Ok::<_, String>(d)
            };
            match called.await {
                Ok(d) => dialogs.lock().unwrap().push(d),
                Err(e) => {
                    eprintln!("a caller failed: {e}");
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            dialing.inc(1);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    dialing.finish();
    let waiting = bar(callers_n, "callers seated");
    let deadline = Instant::now() + Duration::from_secs(120);
    while (seated.load(Ordering::Relaxed) as usize)
        < callers_n - failed.load(Ordering::Relaxed) as usize
        && Instant::now() < deadline
    {
        waiting.set_position(seated.load(Ordering::Relaxed));
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    waiting.finish();
    // Every subscription negotiated, every jitter buffer filled, and the
    // prompts a caller hears on the way in ("enter your PIN", "you are in
    // the meeting") played out: they replace the room's audio meanwhile.
    actix_web::rt::time::sleep(Duration::from_secs(8)).await;
    let ticks_before = server.metric("conclave_phone_mix{measure=\"ticks\"}").await;
    let mix_before = server
        .metric("conclave_phone_mix{measure=\"cpu_microseconds\"}")
        .await;
    let before_cpu = server.usage().map(|(_, cpu)| cpu);
    let tool_before = own_cpu();
    measure.on.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let window = Duration::from_secs(args.seconds.max(1));
    let measuring = bar(window.as_secs() as usize, "seconds");
    while started.elapsed() < window {
        actix_web::rt::time::sleep(Duration::from_secs(1)).await;
        measuring.inc(1);
    }
    measuring.finish();
    measure.on.store(false, Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64();
    let after_cpu = server.usage().map(|(_, cpu)| cpu);
    let tool_cpu = own_cpu() - tool_before;
    let ticks = server.metric("conclave_phone_mix{measure=\"ticks\"}").await - ticks_before;
    let mix_us = server
        .metric("conclave_phone_mix{measure=\"cpu_microseconds\"}")
        .await
        - mix_before;
    // Each receiver adds up its streams on its next packet.
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let cpu = match (before_cpu, after_cpu) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let loss = |t: &Mutex<(u64, u64)>| {
        let (got, expected) = *t.lock().unwrap();
        json!({
            "received": got,
            "expected": expected,
            "loss_ratio": if expected == 0 { 1.0 } else { 1.0 - (got as f64 / expected as f64).min(1.0) },
        })
    };
    let q = |h: &Mutex<Histogram<u64>>| quantiles_ms(&h.lock().unwrap());
    let seated_n = seated.load(Ordering::Relaxed);
    drop(dialogs);
    json!({
        "rooms": rooms,
        "callers": callers_n,
        "callers_failed": failed.load(Ordering::Relaxed),
        "callers_seated": seated_n,
        "web_speakers_per_room": speakers,
        "window_secs": secs,
        "latency_caller_to_web": q(&measure.caller_to_web),
        "latency_web_to_caller": q(&measure.web_to_caller),
        "latency_caller_to_caller": q(&measure.caller_to_caller),
        "tool_send_lag": quantiles_ms(&lag.lock().unwrap()),
        "frames_caller_to_web": loss(&measure.to_web),
        "frames_to_callers": loss(&measure.to_callers),
        "server_cpu_cores_busy": cpu.map(|c| c / secs),
        // The tool shares the machine: past two cores together, both wait.
        "tool_cpu_cores_busy": tool_cpu / secs,
        "server_cpu_pct_of_a_core_per_caller": cpu.map(|c| c / secs * 100.0 / seated_n.max(1) as f64),
        "mix_ticks_per_sec": ticks as f64 / secs,
        "mix_cpu_us_per_room_tick": (ticks > 0).then(|| mix_us as f64 / ticks as f64),
        "mix_cpu_us_per_caller_frame": (ticks > 0).then(|| mix_us as f64 / ticks as f64 * rooms as f64 / seated_n.max(1) as f64),
        "mix_cpu_cores_busy": mix_us as f64 / 1e6 / secs,
    })
}

/// This process's CPU time so far (s): the tool's share of the machine.
fn own_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
