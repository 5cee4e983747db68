//! The `Persister` actor: the one writer of room history. Rooms hand it
//! events through the [`PersistSink`](super::sink::PersistSink) and never
//! wait for it. It writes in arrival order, in batches of whole events, one
//! transaction per batch, and keeps at most one batch in flight, so order
//! holds across retries.
//!
//! A batch the database cannot take right now (`Unavailable`) stays at the
//! head of the queue and is retried with a backoff up to 5 s, for as long
//! as the outage lasts. A batch the database rejects (a constraint or data
//! error, which no retry fixes) is split, and then the one event it rejects
//! is logged by kind and dropped, so one bad row cannot stop every room's
//! history. Records are idempotent (see `store::records`), so a batch whose
//! commit answer was lost is simply written again.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::watch;

use crate::store::{Record, SharedStore, StoreError};

/// Records per transaction, at most (whole events, so a batch may exceed it
/// by one event's records).
const MAX_BATCH: usize = 500;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One event's records, with its place in the write order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Persist {
    pub seq: u64,
    pub records: Vec<Record>,
}

struct Entry {
    seq: u64,
    records: Vec<Record>,
}

pub struct Persister {
    store: SharedStore,
    queue: VecDeque<Entry>,
    in_flight: bool,
    backoff: Duration,
    /// Entries to write one at a time, after a batch was rejected.
    isolate: usize,
    /// The highest sequence number written (or given up on).
    committed: watch::Sender<u64>,
    /// Events handed over and not yet written, shared with the sink.
    pending: Arc<AtomicUsize>,
    /// When the current outage began, for one log line per outage.
    outage_since: Option<std::time::Instant>,
    metrics: crate::metrics::Metrics,
}

impl Persister {
    pub fn new(
        store: SharedStore,
        committed: watch::Sender<u64>,
        pending: Arc<AtomicUsize>,
        metrics: crate::metrics::Metrics,
    ) -> Self {
        Self {
            store,
            queue: VecDeque::new(),
            in_flight: false,
            backoff: FIRST_BACKOFF,
            isolate: 0,
            committed,
            pending,
            outage_since: None,
            metrics,
        }
    }

    /// Starts the next write, unless one is in flight or nothing waits.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.in_flight || self.queue.is_empty() {
            return;
        }
        let mut take = 0;
        let mut batch = Vec::new();
        for entry in &self.queue {
            if take > 0 && (self.isolate > 0 || batch.len() >= MAX_BATCH) {
                break;
            }
            batch.extend(entry.records.iter().cloned());
            take += 1;
        }
        self.in_flight = true;
        let store = self.store.clone();
        ctx.spawn(
            async move { store.write_records(&batch).await }
                .into_actor(self)
                .map(move |result, this, ctx| {
                    this.in_flight = false;
                    this.written(take, result, ctx);
                }),
        );
    }

    fn written(&mut self, take: usize, result: Result<(), StoreError>, ctx: &mut Context<Self>) {
        match result {
            Ok(()) => {
                if let Some(since) = self.outage_since.take() {
                    tracing::info!(
                        waited_ms = since.elapsed().as_millis() as u64,
                        queued = self.queue.len(),
                        "database is back; writing room history again"
                    );
                }
                self.backoff = FIRST_BACKOFF;
                self.isolate = self.isolate.saturating_sub(take);
                self.metrics.persisted(take);
                self.advance(take);
                self.pump(ctx);
            }
            Err(StoreError::Unavailable(why)) => {
                if self.outage_since.is_none() {
                    self.outage_since = Some(std::time::Instant::now());
                    tracing::warn!(error = %why, queued = self.queue.len(), "database unavailable; room history waits in memory and is retried");
                }
                self.metrics.persist_retry();
                let wait = self.backoff;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                ctx.run_later(wait, |this, ctx| this.pump(ctx));
            }
            Err(e) if take > 1 => {
                tracing::warn!(error = %e, events = take, "a batch was rejected; writing its events one by one");
                self.isolate = take;
                self.pump(ctx);
            }
            Err(e) => {
                let kinds: Vec<_> = self.queue[0].records.iter().map(Record::kind).collect();
                tracing::error!(error = %e, ?kinds, "the database rejected an event; it is dropped");
                self.metrics.persist_rejected();
                self.isolate = self.isolate.saturating_sub(1);
                self.advance(1);
                self.pump(ctx);
            }
        }
    }

    /// The first `n` entries are done with.
    fn advance(&mut self, n: usize) {
        let mut last = None;
        for _ in 0..n {
            if let Some(e) = self.queue.pop_front() {
                last = Some(e.seq);
            }
        }
        self.pending.fetch_sub(n, Ordering::SeqCst);
        if let Some(seq) = last {
            self.committed.send_replace(seq);
        }
    }
}

impl Actor for Persister {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Events can arrive faster than one mailbox turn; never limit them
        // here: the sink bounds what waits (see docs/persistence.md).
        ctx.set_mailbox_capacity(usize::MAX);
    }
}

impl Handler<Persist> for Persister {
    type Result = ();

    fn handle(&mut self, msg: Persist, ctx: &mut Self::Context) {
        self.queue.push_back(Entry {
            seq: msg.seq,
            records: msg.records,
        });
        self.pump(ctx);
    }
}
