//! Conclave's media plane: one media-forwarding actor per room that
//! terminates each participant's WebRTC peer connections (DTLS-SRTP),
//! forwards RTP between participants (an SFU), and writes recordings
//! (Ogg/Opus, IVF/VP8) off the media threads.
//!
//! Rooms reach it only through [`conclave_actors::media::MediaPort`], a
//! narrow interface (attach, detach, signal: publish and subscribe, mute,
//! record, close), so the data plane can change without touching the room
//! engine. Everything here runs on the media plane's own threads (a tokio
//! runtime named `conclave-media`), never on actix arbiters or HTTP workers.
//!
//! # Layout
//! - [`config`]: UDP ports, the announced address, ICE servers for clients.
//! - [`plane`]: the media runtime and the factory rooms start from.
//! - [`socket`]: the one UDP port every connection shares, and its routing.
//! - [`tcp`]: the ICE-TCP port beside it, for networks without UDP.
//! - [`forwarder`]: the per-room forwarding actor and its handle (the port).
//! - [`conn`]: the server's end of a publish connection (`rtc`, sans-IO,
//!   ICE-lite).
//! - [`leg`]: a subscribe connection the server runs itself: ICE-lite,
//!   DTLS-SRTP, sender reports, and nothing between a copy and its seal.
//! - [`peer`]: codecs and interceptors both ends speak; a client track.
//! - [`published`]: one published track and what its packets go through.
//! - [`history`]: a published video track's recent packets, for NACKs.
//! - [`gates`]: what may flow, checked on every packet.
//! - [`dedup`], [`speaker`], [`sdp`], [`stun`], [`keyframes`]: small pure
//!   parts.
//! - [`recording`]: the writers, on their own thread.
//! - [`phone`]: phone callers' audio: a caller's voice published as a
//!   microphone, and the room's audio mixed for each caller.

pub mod allocate;
pub mod bwe;
pub mod config;
pub mod conn;
pub mod dedup;
pub mod forwarder;
pub mod gates;
pub mod history;
pub mod keyframes;
pub mod leg;
pub mod peer;
pub mod phone;
pub mod plane;
pub mod probing;
pub mod published;
pub mod quality;
pub mod recording;
pub mod sdp;
pub mod sealed_file;
pub mod socket;
pub mod speaker;
pub mod stun;
pub mod tcp;
pub mod vp8;
pub mod watch;

pub use config::{IceServer, MediaConfig};
pub use plane::MediaPlane;
/// The WebRTC stack the plane is built on, for clients of the same
/// version (tests, the load tool).
pub use {rtc, webrtc};
