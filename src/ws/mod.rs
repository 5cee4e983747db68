//! The WebSocket endpoint (`GET /ws`, on actix-ws: see docs/websocket.md):
//! [`protocol`] decodes what clients send, [`encode`] spells what the server
//! sends, [`session`] accepts a connection and answers its requests, and
//! [`participant`] is the actor that runs it.

pub mod admit;
pub mod encode;
pub mod participant;
pub mod protocol;
pub mod resume;
pub mod session;
