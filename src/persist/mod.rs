//! Room history, written asynchronously: rooms hand events to the
//! [`sink::PersistSink`] (never waiting), which numbers them and passes
//! them to the [`persister::Persister`] actor, the single writer that
//! batches them into transactions and rides out database outages. The
//! guarantee for each kind of event is in docs/persistence.md.

pub mod convert;
pub mod persister;
pub mod sink;

pub use sink::PersistSink;
