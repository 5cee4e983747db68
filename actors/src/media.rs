//! The room's port to its media plane. The room engine knows nothing of
//! WebRTC: it tells a [`MediaPort`] who is attached, what they may send and
//! what they signal, and hears back through [`FromMedia`] messages. The
//! `conclave-media` crate implements the port; the server wires it in.
//!
//! The port's methods never block: the room calls them inline. What must
//! hold before the room acknowledges a moderator (removal, mute) takes
//! effect inside the call, before it returns: the media plane checks
//! those gates on every packet.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use actix::prelude::*;

use crate::ids::{ConferenceId, ParticipantId, SessionId};

/// Which of a participant's peer connections a signal is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PcKind {
    /// Client to server: the client offers, the server answers.
    Publish,
    /// Server to client: the server offers, the client answers.
    Subscribe,
    /// Client to client, end to end (peer-to-peer mode); the room relays.
    Peer,
}

impl PcKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PcKind::Publish => "publish",
            PcKind::Subscribe => "subscribe",
            PcKind::Peer => "peer",
        }
    }
}

/// What a published track carries, as the client declared it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrackSource {
    Microphone,
    Camera,
    /// A screen share: needs the `share` permission.
    Screen,
}

impl TrackSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TrackSource::Microphone => "microphone",
            TrackSource::Camera => "camera",
            TrackSource::Screen => "screen",
        }
    }

    pub fn is_audio(self) -> bool {
        self == TrackSource::Microphone
    }
}

/// How a room's media flows at the moment; told to clients so a UI can
/// show "end-to-end encrypted".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaMode {
    /// Two web participants, media end to end between them; the server
    /// only relays their signalling.
    PeerToPeer,
    /// Every participant sends to the server, which forwards (and may record).
    Forwarded,
}

impl MediaMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaMode::PeerToPeer => "p2p",
            MediaMode::Forwarded => "sfu",
        }
    }
}

/// Signalling from a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientSignal {
    /// An offer: on the publish connection (to the server), or to the peer.
    Offer {
        pc: PcKind,
        sdp: String,
        /// The client's track ids (the `msid` track part) and what each is.
        tracks: Vec<(String, TrackSource)>,
    },
    /// An answer to the server's subscribe offer, or to the peer's offer.
    Answer { pc: PcKind, sdp: String },
    /// A trickled ICE candidate, as the client's `RTCIceCandidateInit` JSON.
    Candidate { pc: PcKind, candidate: String },
    /// Whether the subscriber shows `publisher`'s `source` video (camera or
    /// screen): a hidden or off-screen tile is sent nothing; and how high
    /// its tile is, in device pixels, when it says (a simulcast
    /// publisher's smallest layer that fills it is sent).
    Watch {
        publisher: ParticipantId,
        source: TrackSource,
        visible: bool,
        height: Option<u32>,
    },
}

impl ClientSignal {
    pub fn pc(&self) -> PcKind {
        match self {
            ClientSignal::Offer { pc, .. }
            | ClientSignal::Answer { pc, .. }
            | ClientSignal::Candidate { pc, .. } => *pc,
            ClientSignal::Watch { .. } => PcKind::Subscribe,
        }
    }
}

/// Signalling to a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerSignal {
    Offer { pc: PcKind, sdp: String },
    Answer { pc: PcKind, sdp: String },
    Candidate { pc: PcKind, candidate: String },
}

/// What the media plane tells its room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaEvent {
    /// Signalling for one participant.
    Signal {
        to: ParticipantId,
        signal: ServerSignal,
    },
    /// The loudest speaker changed (`None`: nobody is speaking).
    ActiveSpeaker(Option<ParticipantId>),
    /// A recording file, or the whole recording, is complete.
    Recorded(RecordingNews),
    /// The media plane failed and was started again: every client must
    /// connect its media to the server again.
    Restarted,
    /// One participant's connection with the server failed (its handshake,
    /// or 30 s without consent) and is gone with the other: that client
    /// must connect its media again.
    Reconnect(ParticipantId),
    /// How well each participant with a subscribe connection receives,
    /// every few seconds: for the moderators' indicator.
    Reception(Vec<Reception>),
}

/// A word for how well media reaches someone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QualityLevel {
    Good,
    Fair,
    Poor,
}

impl QualityLevel {
    /// The one wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            QualityLevel::Good => "good",
            QualityLevel::Fair => "fair",
            QualityLevel::Poor => "poor",
        }
    }
}

/// How well media reaches one participant from the server and comes from
/// it, as its client reports and the server counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reception {
    pub participant: ParticipantId,
    pub level: QualityLevel,
    /// Packets lost on the way from the server, after NACKs repaired
    /// what they could, in tenths of a percent (`None`: no figure yet).
    pub receive_loss_permille: Option<u32>,
    /// Packets lost on the way to the server, of what it publishes.
    pub send_loss_permille: Option<u32>,
    /// The round trip, once a report answered one of the server's.
    pub rtt_ms: Option<u32>,
    /// What its client says it can receive (REMB), in bit/s.
    pub estimate_bps: Option<u64>,
}

/// What a recording's writer tells as it finishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordingNews {
    File(RecordingFile),
    /// Every file and the manifest are written: the recording can be
    /// downloaded.
    Done(RecordingDone),
}

/// A finished recording: its folder (the recording's id in the API), how
/// many files it holds and their size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingDone {
    pub recording: String,
    pub files: usize,
    pub bytes: u64,
}

/// One finished recording file, for the conference summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingFile {
    /// The file name inside the session's recording folder.
    pub file: String,
    pub participant: ParticipantId,
    pub source: TrackSource,
    pub bytes: u64,
    pub started_at_ms: i64,
    pub ended_at_ms: i64,
}

/// A media event for the room actor.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct FromMedia(pub MediaEvent);

/// One room's media plane, as the room sees it. Every call returns at once.
pub trait MediaPort: Send + 'static {
    /// A web participant is seated; `may_share` says whether it may send a
    /// screen.
    fn attach(&mut self, id: ParticipantId, may_share: bool);
    /// The participant left or was removed: nothing of theirs is forwarded
    /// from the moment this returns, and their connections close.
    fn detach(&mut self, id: ParticipantId);
    /// A client's signalling, already checked by the room.
    fn signal(&mut self, id: ParticipantId, signal: ClientSignal);
    /// A moderator (un)muted the participant: its audio is (not) forwarded.
    fn mute(&mut self, id: ParticipantId, muted: bool);
    /// Whether the participant may send a screen now.
    fn allow_screen(&mut self, id: ParticipantId, allowed: bool);
    /// A phone caller is seated: its voice is published as its microphone
    /// and it hears the room's other audio, through `audio`.
    fn attach_phone(&mut self, id: ParticipantId, audio: Arc<PhoneAudio>);
    /// Recording starts or stops.
    fn record(&mut self, on: bool);
    /// The room is closing: every connection ends.
    fn close(&mut self);
}

/// Samples in 20 ms of 8 kHz audio: the unit phone audio moves in.
pub const PHONE_FRAME: usize = 160;
/// 20 ms of a caller's audio, 8 kHz linear PCM.
pub type PhoneFrame = [i16; PHONE_FRAME];

/// The caller's frames kept until the media plane takes them: 500 ms, so
/// frames from before the caller was seated are not played late.
const HEARD_KEPT: usize = 25;
/// The room's frames kept until the call sends them: 60 ms, so a call that
/// fell behind catches up by dropping rather than by lagging.
const SAID_KEPT: usize = 3;

/// A phone caller's audio both ways, as the call (the SIP edge) and the
/// room's media plane exchange it: 20 ms frames of 8 kHz linear PCM. Shared
/// rather than a channel, so a media plane started again after a failure
/// takes the same call up again. Each side only ever waits on its own
/// network; the queues are short and drop their oldest frame when full.
#[derive(Default)]
pub struct PhoneAudio {
    /// The caller's voice, each frame with its RTP sequence number (the
    /// plane's jitter buffer orders them).
    heard: Mutex<VecDeque<(u16, PhoneFrame)>>,
    /// The room's audio for the caller.
    said: Mutex<VecDeque<PhoneFrame>>,
    ready: tokio::sync::Notify,
}

impl PhoneAudio {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// A frame of the caller's voice arrived (the call).
    pub fn heard(&self, seq: u16, frame: PhoneFrame) {
        let mut q = lock(&self.heard);
        if q.len() == HEARD_KEPT {
            q.pop_front();
        }
        q.push_back((seq, frame));
    }

    /// Takes the caller's frames that arrived since the last call (the
    /// media plane).
    pub fn take_heard(&self, into: &mut Vec<(u16, PhoneFrame)>) {
        into.extend(lock(&self.heard).drain(..));
    }

    /// Forgets what the caller said before now (the plane starts taking).
    pub fn forget_heard(&self) {
        lock(&self.heard).clear();
    }

    /// A frame of the room's audio for the caller (the media plane).
    pub fn say(&self, frame: PhoneFrame) {
        {
            let mut q = lock(&self.said);
            if q.len() == SAID_KEPT {
                q.pop_front();
            }
            q.push_back(frame);
        }
        self.ready.notify_one();
    }

    /// The next frame of the room's audio, if one is waiting (the call).
    pub fn next_said(&self) -> Option<PhoneFrame> {
        lock(&self.said).pop_front()
    }

    /// Returns when a frame of the room's audio may be waiting.
    pub async fn said(&self) {
        self.ready.notified().await
    }
}

/// A poisoned queue is still a queue of frames: a panic elsewhere must not
/// silence the call.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts one room's media plane.
pub trait MediaFactory: Send + Sync + 'static {
    fn start(
        &self,
        conference: ConferenceId,
        session: SessionId,
        events: Recipient<FromMedia>,
    ) -> Box<dyn MediaPort>;
}

/// A media plane that carries nothing: rooms without media (tests of the
/// room rules, the phone-only paths).
pub struct NoMedia;

impl MediaPort for NoMedia {
    fn attach(&mut self, _: ParticipantId, _: bool) {}
    fn detach(&mut self, _: ParticipantId) {}
    fn signal(&mut self, _: ParticipantId, _: ClientSignal) {}
    fn attach_phone(&mut self, _: ParticipantId, _: Arc<PhoneAudio>) {}
    fn mute(&mut self, _: ParticipantId, _: bool) {}
    fn allow_screen(&mut self, _: ParticipantId, _: bool) {}
    fn record(&mut self, _: bool) {}
    fn close(&mut self) {}
}

impl MediaFactory for NoMedia {
    fn start(&self, _: ConferenceId, _: SessionId, _: Recipient<FromMedia>) -> Box<dyn MediaPort> {
        Box::new(NoMedia)
    }
}

/// The factory a server without media uses.
pub fn no_media() -> Arc<dyn MediaFactory> {
    Arc::new(NoMedia)
}
