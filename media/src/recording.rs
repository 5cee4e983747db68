//! Recording, off the media threads: forwarding loops copy packets into a
//! bounded channel (never waiting: a full channel drops the copy and counts
//! it), and one writer thread per recording writes an Ogg/Opus file per
//! audio track and an IVF/VP8 file per video track, then a manifest
//! (`manifest.json`) naming each file's participant, track and timing.
//! With a key (the summary's, src/sealed_file.rs) the media files are
//! sealed as they are written; the manifest holds no personal data and
//! stays in clear so a listing needs no key.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use conclave_actors::media::{RecordingDone, RecordingFile, RecordingNews, TrackSource};
use conclave_actors::ParticipantId;
use rtc::media::io::ivf_reader::IVFFileHeader;
use rtc::media::io::ivf_writer::IVFWriter;
use rtc::media::io::ogg_writer::OggWriter;
use rtc::media::io::Writer;
use rtc::rtp::Packet;

use crate::sealed_file::{FileKey, SealedWriter};

/// Packets waiting for the writer, per recording.
const BACKLOG: usize = 4096;

enum Msg {
    Start {
        track: u64,
        participant: ParticipantId,
        source: TrackSource,
    },
    Packet {
        track: u64,
        packet: Packet,
    },
    Stop,
}

/// A forwarding loop's end of a recording, for one track.
#[derive(Clone)]
pub struct Tap {
    track: u64,
    tx: SyncSender<Msg>,
    dropped: Arc<AtomicU64>,
}

impl Tap {
    /// Copies a packet to the writer without waiting.
    pub fn packet(&self, packet: &Packet) {
        let msg = Msg::Packet {
            track: self.track,
            packet: packet.clone(),
        };
        if let Err(TrySendError::Full(_)) = self.tx.try_send(msg) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A recording in progress: one folder, one writer thread.
pub struct Recording {
    tx: SyncSender<Msg>,
    next_track: u64,
    dropped: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Recording {
    /// Starts the writer thread on `dir`; `done` hears each finished file.
    /// With `key`, every media file is sealed with it.
    pub fn start(
        dir: PathBuf,
        key: Option<FileKey>,
        done: impl Fn(RecordingNews) + Send + 'static,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let (tx, rx) = sync_channel(BACKLOG);
        let dropped = Arc::new(AtomicU64::new(0));
        let counted = dropped.clone();
        let thread = std::thread::Builder::new()
            .name("conclave-recorder".into())
            .spawn(move || write_all(dir, key, rx, counted, done))?;
        Ok(Self {
            tx,
            next_track: 0,
            dropped,
            thread: Some(thread),
        })
    }

    /// A new track joins the recording; its packets go through the tap.
    pub fn tap(&mut self, participant: ParticipantId, source: TrackSource) -> Tap {
        self.next_track += 1;
        let track = self.next_track;
        // Start must not be lost: it may wait for room in the channel.
        let _ = self.tx.send(Msg::Start {
            track,
            participant,
            source,
        });
        Tap {
            track,
            tx: self.tx.clone(),
            dropped: self.dropped.clone(),
        }
    }

    /// Finishes every file and the manifest (on the writer thread).
    pub fn stop(mut self) {
        let _ = self.tx.send(Msg::Stop);
        // Not joined here: the caller is a media thread.
        self.thread.take();
    }
}

/// Where a media writer's bytes go: a plain file, or a sealed one.
enum Out {
    Plain(BufWriter<File>),
    Sealed(SealedWriter),
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Out::Plain(w) => w.write(buf),
            Out::Sealed(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Out::Plain(w) => w.flush(),
            Out::Sealed(w) => w.flush(),
        }
    }
}

impl Seek for Out {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        match self {
            Out::Plain(w) => w.seek(to),
            Out::Sealed(w) => w.seek(to),
        }
    }
}

enum Sink {
    Ogg(Box<OggWriter<Out>>),
    Ivf(IVFWriter<Out>),
}

struct Track {
    file: String,
    participant: ParticipantId,
    source: TrackSource,
    sink: Sink,
    /// The sealed file under the sink, finished after it closes.
    sealed: Option<SealedWriter>,
    clock_rate: u32,
    first_ts: Option<u32>,
    last_ts: u32,
    packets: u64,
    started_at_ms: i64,
    ended_at_ms: i64,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn open(
    dir: &std::path::Path,
    key: Option<&FileKey>,
    track: u64,
    participant: ParticipantId,
    source: TrackSource,
) -> Option<Track> {
    let (file, clock_rate) = if source.is_audio() {
        (
            format!("{participant}-{}-{track}.ogg", source.as_str()),
            48_000,
        )
    } else {
        (
            format!("{participant}-{}-{track}.ivf", source.as_str()),
            90_000,
        )
    };
    let (out, sealed) = match key {
        None => (
            Out::Plain(BufWriter::new(File::create(dir.join(&file)).ok()?)),
            None,
        ),
        Some(key) => {
            let handle = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(dir.join(&file))
                .ok()?;
            let w = SealedWriter::new(handle, *key).ok()?;
            (Out::Sealed(w.clone()), Some(w))
        }
    };
    let sink = if source.is_audio() {
        Sink::Ogg(Box::new(OggWriter::new(out, 48_000, 2).ok()?))
    } else {
        let header = IVFFileHeader {
            signature: *b"DKIF",
            version: 0,
            header_size: 32,
            four_cc: *b"VP80",
            width: 640,
            height: 480,
            timebase_denominator: 30,
            timebase_numerator: 1,
            num_frames: 0,
            unused: 0,
        };
        Sink::Ivf(IVFWriter::new(out, &header).ok()?)
    };
    Some(Track {
        file,
        participant,
        source,
        sink,
        sealed,
        clock_rate,
        first_ts: None,
        last_ts: 0,
        packets: 0,
        started_at_ms: now_ms(),
        ended_at_ms: now_ms(),
    })
}

impl Track {
    fn write(&mut self, mut packet: Packet) {
        let ts = packet.header.timestamp;
        let first = *self.first_ts.get_or_insert(ts);
        let rel = ts.wrapping_sub(first);
        // Late packets (timestamps going back) are skipped: the writers
        // expect time to move forward.
        if self.packets > 0 && rel.wrapping_sub(self.last_ts) >= 0x8000_0000 {
            return;
        }
        self.last_ts = rel;
        self.packets += 1;
        self.ended_at_ms = now_ms();
        // Rebased so the writers' arithmetic never wraps.
        packet.header.timestamp = rel.wrapping_add(1);
        let sink = &mut self.sink;
        let _ = catch_unwind(AssertUnwindSafe(|| match sink {
            Sink::Ogg(w) => w.write_rtp(&packet),
            Sink::Ivf(w) => w.write_rtp(&packet),
        }));
    }

    /// Closes the file; its plaintext length, when it is sealed.
    fn close(&mut self) -> Option<u64> {
        let sink = &mut self.sink;
        let _ = catch_unwind(AssertUnwindSafe(|| match sink {
            Sink::Ogg(w) => w.close(),
            Sink::Ivf(w) => w.close(),
        }));
        let sealed = self.sealed.as_ref()?;
        match sealed.finish() {
            Ok(len) => Some(len),
            Err(e) => {
                tracing::error!(error = %e, "cannot finish a sealed recording file");
                Some(0)
            }
        }
    }

    fn duration_ms(&self) -> u64 {
        u64::from(self.last_ts) * 1000 / u64::from(self.clock_rate)
    }
}

fn write_all(
    dir: PathBuf,
    key: Option<FileKey>,
    rx: Receiver<Msg>,
    dropped: Arc<AtomicU64>,
    done: impl Fn(RecordingNews),
) {
    let mut tracks: HashMap<u64, Track> = HashMap::new();
    let mut order = Vec::new();
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Start {
                track,
                participant,
                source,
            } => match open(&dir, key.as_ref(), track, participant, source) {
                Some(t) => {
                    tracks.insert(track, t);
                    order.push(track);
                }
                None => tracing::error!(dir = %dir.display(), "cannot open a recording file"),
            },
            Msg::Packet { track, packet } => {
                if let Some(t) = tracks.get_mut(&track) {
                    t.write(packet);
                }
            }
            Msg::Stop => break,
        }
    }
    let mut manifest = Vec::new();
    let mut total = 0;
    for id in order {
        let Some(mut t) = tracks.remove(&id) else {
            continue;
        };
        // What the owner downloads: the plaintext length of a sealed file.
        let bytes = match t.close() {
            Some(len) => len,
            None => std::fs::metadata(dir.join(&t.file)).map_or(0, |m| m.len()),
        };
        manifest.push(serde_json::json!({
            "file": t.file,
            "participant": t.participant.to_string(),
            "source": t.source.as_str(),
            "codec": if t.source.is_audio() { "opus" } else { "vp8" },
            "packets": t.packets,
            "bytes": bytes,
            "duration_ms": t.duration_ms(),
            "started_at_ms": t.started_at_ms,
            "ended_at_ms": t.ended_at_ms,
        }));
        total += bytes;
        done(RecordingNews::File(RecordingFile {
            file: t.file.clone(),
            participant: t.participant,
            source: t.source,
            bytes,
            started_at_ms: t.started_at_ms,
            ended_at_ms: t.ended_at_ms,
        }));
    }
    // Copies the forwarder could not hand over (the writer fell behind).
    let manifest_len = manifest.len();
    let body = serde_json::json!({
        "tracks": manifest,
        "dropped_packets": dropped.load(Ordering::Relaxed),
    });
    // Written aside and renamed into place: the manifest is what says the
    // recording is finished, so nobody may read half of one.
    let tmp = dir.join("manifest.json.tmp");
    let written = std::fs::write(&tmp, serde_json::to_vec_pretty(&body).unwrap_or_default())
        .and_then(|()| std::fs::rename(&tmp, dir.join("manifest.json")));
    match written {
        Err(e) => tracing::error!(error = %e, "cannot write the recording manifest"),
        Ok(()) => done(RecordingNews::Done(RecordingDone {
            recording: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            files: manifest_len,
            bytes: total,
        })),
    }
}
