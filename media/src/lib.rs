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
//! - [`forwarder`]: the per-room forwarding actor and its handle (the port).
//! - [`peer`]: building the server's peer connections.
//! - [`published`]: one published track and the loop that forwards it.
//! - [`gates`]: what may flow, checked on every packet.
//! - [`dedup`], [`speaker`], [`sdp`], [`keyframes`]: small pure parts.
//! - [`recording`]: the writers, on their own thread.
//! - [`runtime`]: tokio's webrtc runtime without UDP GRO (memory).

pub mod config;
pub mod dedup;
pub mod forwarder;
pub mod gates;
pub mod keyframes;
pub mod peer;
pub mod plane;
pub mod published;
pub mod recording;
pub mod runtime;
pub mod sdp;
pub mod speaker;

pub use config::{IceServer, MediaConfig};
pub use plane::MediaPlane;
/// The WebRTC stack the plane is built on, for clients of the same
/// version (tests, the load tool).
pub use {rtc, webrtc};
