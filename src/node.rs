//! This server as a node among the servers sharing a database. Its id is
//! kept in the data directory (`node.id`), so a restarted server is the same
//! node; every session it opens records it, and it writes a heartbeat to
//! the store every [`HEARTBEAT`].
//!
//! Sessions a node left open (it was killed, or lost power) are closed at
//! their last recorded event with the leave reason `server_stopped`: at
//! start-up for the node's own sessions, at once, since no other process is
//! that node; and, by any live node, for nodes whose heartbeat is older than
//! [`LEASE`], which have stopped for good or been moved. A live node's rooms
//! are never closed by another while its heartbeat is fresh. The decision
//! and its limits are in docs/persistence.md ("After a crash").

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::clock::Clock;
use crate::store::{SharedStore, StoreResult};

/// How often a node says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(30);
/// How long without a heartbeat before another node closes a node's
/// sessions: long enough to ride out a database outage of a few minutes.
pub const LEASE: Duration = Duration::from_secs(10 * 60);

const FILE: &str = "node.id";

/// The node id kept in `data_dir`, created on first start.
pub fn node_id(data_dir: &Path) -> std::io::Result<Uuid> {
    let path = data_dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Uuid::parse_str(text.trim()).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} does not hold a node id", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = Uuid::new_v4();
            std::fs::write(&path, format!("{id}\n"))?;
            Ok(id)
        }
        Err(e) => Err(e),
    }
}

fn lease_start(clock: &dyn Clock) -> i64 {
    clock.now().timestamp_millis() - LEASE.as_millis() as i64
}

/// At start-up, before any room opens: this node is alive, and every
/// session it (or a node past its lease) left open is closed.
pub async fn recover(store: &SharedStore, node: Uuid, clock: &dyn Clock) -> StoreResult<()> {
    store
        .node_alive(node, clock.now().timestamp_millis())
        .await?;
    let closed = store
        .close_abandoned_sessions(Some(node), lease_start(clock))
        .await?;
    if !closed.is_empty() {
        tracing::warn!(
            sessions = closed.len(),
            "closed sessions left open by a server that stopped without closing its rooms"
        );
    }
    Ok(())
}

/// The heartbeat task, until [`KeepAlive::stop`].
pub struct KeepAlive {
    stop: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl KeepAlive {
    /// Stops the heartbeats and waits for the one under way: an aborted
    /// task's write may still reach the database after the node says it
    /// stopped, and leave a heartbeat behind.
    pub async fn stop(self) {
        self.stop.notify_one();
        let _ = self.task.await;
    }
}

/// A clean stop: no heartbeat left for `conclave keys rotate` to find.
/// Tried a few times: a pooled PostgreSQL connection made by an HTTP
/// worker dies with that worker's runtime as the server stops, and the
/// pool can hand it out before it notices.
pub async fn record_stopped(store: &SharedStore, node: Uuid) {
    const TRIES: u32 = 4;
    for attempt in 1..=TRIES {
        match store.node_stopped(node).await {
            Ok(()) => return,
            Err(e) if attempt == TRIES => {
                tracing::warn!(error = %e, "cannot record that this node stopped")
            }
            Err(e) => {
                tracing::debug!(error = %e, attempt, "recording that this node stopped, again");
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            }
        }
    }
}

/// Heartbeats, and closes the sessions of nodes past their lease, until
/// stopped.
pub fn keep_alive(store: SharedStore, node: Uuid, clock: Arc<dyn Clock>) -> KeepAlive {
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopped = stop.clone();
    let task = tokio::task::spawn(async move {
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.notified() => break,
            }
            if let Err(e) = store.node_alive(node, clock.now().timestamp_millis()).await {
                tracing::warn!(error = %e, "cannot record this node's heartbeat");
                continue;
            }
            match store
                .close_abandoned_sessions(None, lease_start(&*clock))
                .await
            {
                Ok(closed) if !closed.is_empty() => tracing::warn!(
                    sessions = closed.len(),
                    "closed sessions of a server past its lease"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot close sessions of stopped servers"),
            }
        }
    });
    KeepAlive { stop, task }
}

#[cfg(test)]
mod tests {
    use super::node_id;

    #[test]
    fn the_node_id_is_kept_across_starts() {
        let dir = tempfile::tempdir().unwrap();
        let first = node_id(dir.path()).unwrap();
        assert_eq!(node_id(dir.path()).unwrap(), first);
        std::fs::write(dir.path().join("node.id"), "garbage").unwrap();
        assert!(node_id(dir.path()).is_err());
    }
}
