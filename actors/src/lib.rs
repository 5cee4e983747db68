//! Conclave's room engine: the `Registry` that maps live conferences to rooms,
//! one `Room` actor per live conference, their messages, and the pure room
//! state machine (`state + command -> events`) the actors carry out.
//!
//! This crate knows nothing of HTTP, SQL or WebRTC: the server (`src/`) wires
//! persistence and media in through messages and small traits, so the room's
//! rules are tested without sockets or databases.
//!
//! # Layout
//! - [`ids`]: typed identifiers shared by the server and the engine.
//! - [`role`]: what a participant may do in a room.
//! - [`room_state`]: the room's rules, a pure state machine
//!   (`apply(command, now) -> outcome`) driven by table tests.
//! - [`text`]: what a name or a chat message may contain.
//! - [`view`]: what one recipient is shown (phone numbers masked for
//!   non-moderators), and the messages of a participant's outbound queue.
//! - [`media`]: the room's port to its media plane (implemented by
//!   `conclave-media`), and the signalling types.
//! - [`room`]: the `Room` actor, which applies commands and fans out events.
//! - [`registry`]: the `Registry` actor, live conferences to rooms.
//!
//! The participants are actors of the server crate, which knows sockets:
//! `conclave::ws::participant::Participant` (a browser connection) and
//! `conclave::phone::leg::PhoneLeg` (a call through the telephony gateway).
//! They reach a room only through its messages and [`room::Link`]s.

pub mod ids;
pub mod media;
pub mod registry;
pub mod role;
pub mod room;
pub mod room_state;
pub mod text;
pub mod view;

pub use ids::{AccountId, BlockId, ConferenceId, DocumentId, MessageId, ParticipantId, SessionId};
pub use role::Role;
