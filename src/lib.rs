//! Conclave, the server: configuration, the HTTP API (actix-web), accounts,
//! conference lines and codes, and the stores. The room engine lives in the
//! `conclave-actors` crate and the media plane in `conclave-media`.
//!
//! # Layout
//! - [`server`]: [`run`], which `main` and the tests call with a listener.
//! - [`config`], [`cli`], [`telemetry`]: how the server is told what to do.
//! - [`services`]: the state every request shares; [`accounts`] and
//!   [`codes`] are its operations (sign-in, code resets, `resolve`).
//! - [`store`]: the `Store` trait, PostgreSQL and SQLite implementations,
//!   embedded migrations from `schema/`.
//! - [`http`]: routes, problem bodies, OpenAPI.
//! - [`ws`]: the WebSocket protocol (the client-message decoder so far).
//! - [`device`]: the device credential a block bars, and its cookie.
//! - [`passwords`], [`crypto`], [`secrets`], [`throttle`], [`clock`],
//!   [`metrics`], [`validate`], [`error`], [`csv_text`]: the small pieces
//!   they stand on.

pub mod accounts;
pub mod addresses;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod codes;
pub mod config;
pub mod crypto;
pub mod csv_text;
pub mod database_error;
pub mod device;
pub mod documents;
pub mod error;
pub mod http;
pub mod join_tokens;
pub mod key_rotation;
pub mod last_known;
pub mod metrics;
pub mod node;
pub mod passwords;
pub mod persist;
pub mod phone;
pub mod retention;
pub mod room_sink;
pub mod rooms;
pub mod secrets;
pub mod server;
pub mod services;
pub mod sip;
pub mod store;
pub mod summary_keys;
pub mod telemetry;
pub mod throttle;
pub mod turn;
pub mod validate;
pub mod webhooks;
pub mod ws;

pub use server::{run, run_with_clock, RunError};
