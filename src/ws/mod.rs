//! The WebSocket endpoint's pieces. Today: the client-message decoder
//! ([`protocol`]); the endpoint itself (actix-ws, see docs/websocket.md)
//! is being built on top of it.

pub mod protocol;
