//! The WebSocket endpoint (`GET /ws`, on actix-ws: see docs/websocket.md):
//! [`protocol`] decodes what clients send, [`encode`] spells what the server
//! sends, [`session`] runs one connection.

pub mod encode;
pub mod protocol;
pub mod resume;
pub mod session;
