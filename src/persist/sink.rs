//! The rooms' side of persistence: turns each event into records (phone
//! numbers sealed), numbers it, and hands it to the [`Persister`] without
//! waiting. It also answers the two questions the rest of the server asks:
//! is an event committed yet (for acknowledgements of durable state), and
//! is too much waiting (the room then refuses new work, see docs/persistence.md).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use conclave_actors::room::RoomSink;
use conclave_actors::room_state::{Event, Millis};
use conclave_actors::{ConferenceId, SessionId};
use tokio::sync::watch;

use super::convert::{records, Place, Seal};
use super::persister::{Persist, Persister};
use crate::secrets::SecretKey;
use crate::store::{Record, SharedStore};

pub struct PersistSink {
    persister: Addr<Persister>,
    /// The last sequence number handed out. Held while sending, so the
    /// persister receives events in sequence order from every room.
    last: Mutex<u64>,
    pending: Arc<AtomicUsize>,
    bound: usize,
    committed: watch::Receiver<u64>,
    key: SecretKey,
    /// The keys of the summaries under way here.
    keys: Arc<crate::summary_keys::SummaryKeys>,
    /// This server's node id, written on every session it opens.
    node: uuid::Uuid,
}

impl PersistSink {
    /// Starts the persister on the current arbiter. `bound` is how many
    /// events may wait before rooms refuse new work.
    pub fn start(
        store: SharedStore,
        keys: Arc<crate::summary_keys::SummaryKeys>,
        bound: usize,
        metrics: crate::metrics::Metrics,
        node: uuid::Uuid,
    ) -> Arc<Self> {
        let (tx, rx) = watch::channel(0);
        let pending = Arc::new(AtomicUsize::new(0));
        let persister = Persister::new(store, tx, pending.clone(), metrics).start();
        Arc::new(Self {
            persister,
            last: Mutex::new(0),
            pending,
            bound,
            committed: rx,
            key: keys.server().clone(),
            keys,
            node,
        })
    }

    fn hand_over(&self, records: Vec<Record>) -> u64 {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if records.is_empty() {
            return *last;
        }
        *last += 1;
        self.pending.fetch_add(1, Ordering::SeqCst);
        self.persister.do_send(Persist {
            seq: *last,
            records,
        });
        *last
    }

    /// Events handed over and not yet written.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// The sequence number of the last event handed over.
    pub fn handed_over(&self) -> u64 {
        *self.last.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until event `seq` is written; false when `within` ran out first.
    pub async fn committed(&self, seq: u64, within: Duration) -> bool {
        let mut rx = self.committed.clone();
        let wait = tokio::time::timeout(within, rx.wait_for(|c| *c >= seq)).await;
        matches!(wait, Ok(Ok(_)))
    }

    /// Waits until everything handed over so far is written (graceful
    /// shutdown); false, with the count logged, when `within` ran out.
    pub async fn flush(&self, within: Duration) -> bool {
        let done = self.committed(self.handed_over(), within).await;
        if !done {
            tracing::error!(
                unwritten = self.pending(),
                "shutting down with room history not yet written"
            );
        }
        done
    }
}

impl RoomSink for PersistSink {
    fn opened(&self, conference: ConferenceId, session: SessionId, at: Millis) {
        let place = Place {
            conference,
            session,
        };
        self.hand_over(vec![
            Record::SessionStarted {
                session: session.0,
                conference: conference.0,
                node: self.node,
                data_key: Some(self.keys.begin(conference, session)),
                at,
            },
            crate::webhooks::events::session(place, true, at),
        ]);
    }

    fn record(
        &self,
        conference: ConferenceId,
        session: SessionId,
        event: &Event,
        at: Millis,
    ) -> u64 {
        let summary = self.keys.live(session);
        if summary.is_none() {
            tracing::error!(%session, "an event of a summary with no key: written as the summaries before encryption at rest");
        }
        let seal = Seal {
            server: &self.key,
            summary: summary.as_ref(),
        };
        let place = Place {
            conference,
            session,
        };
        let mut history = records(place, event, at, &seal);
        let told = crate::webhooks::events::for_event(place, event, at, &history);
        history.extend(told);
        self.hand_over(history)
    }

    fn closed(&self, conference: ConferenceId, session: SessionId, at: Millis) {
        self.keys.end(session);
        let place = Place {
            conference,
            session,
        };
        self.hand_over(vec![
            Record::SessionEnded {
                session: session.0,
                at,
            },
            crate::webhooks::events::session(place, false, at),
        ]);
    }

    fn recording_ready(
        &self,
        conference: ConferenceId,
        session: SessionId,
        recording: &conclave_actors::media::RecordingDone,
        at: Millis,
    ) {
        self.hand_over(vec![crate::webhooks::events::recording(
            Place {
                conference,
                session,
            },
            recording,
            at,
        )]);
    }

    fn backlogged(&self) -> bool {
        self.pending() >= self.bound
    }
}
