//! Opening and migrating the SQLite file, and running a call on the
//! blocking pool (the rest of the store is `sqlite.rs` and the `sqlite_*`
//! files).

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::migrations::SQLITE as MIGRATIONS;
use super::sqlite::{map_err, ms, SqliteStore};
use super::*;

impl SqliteStore {
    /// Opens (creating if needed) the database file.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let path = path.to_owned();
        let conn = tokio::task::spawn_blocking(move || -> StoreResult<Connection> {
            let conn = Connection::open(&path).map_err(|e| {
                StoreError::Unavailable(format!("cannot open {}: {e}", path.display()))
            })?;
            conn.execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA secure_delete = ON;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA busy_timeout = 5000;",
            )
            .map_err(map_err)?;
            Ok(conn)
        })
        .await
        .map_err(|e| StoreError::Other(format!("SQLite open task failed: {e}")))??;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            chain_key: Default::default(),
        })
    }

    /// Applies the migrations not yet applied, each in its own transaction.
    pub async fn migrate(&self) -> StoreResult<usize> {
        self.call(|conn| {
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                     version TEXT PRIMARY KEY,
                     applied_at INTEGER NOT NULL)",
            )
            .map_err(map_err)?;
            let mut applied = 0;
            for m in MIGRATIONS {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(map_err)?;
                let done = tx
                    .query_row(
                        "SELECT 1 FROM schema_migrations WHERE version = ?1",
                        [m.version],
                        |_| Ok(()),
                    )
                    .optional()
                    .map_err(map_err)?
                    .is_some();
                if !done {
                    tx.execute_batch(m.sql).map_err(map_err)?;
                    tx.execute(
                        "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                        params![m.version, ms(Utc::now())],
                    )
                    .map_err(map_err)?;
                    tracing::info!(version = m.version, "applied SQLite migration");
                    applied += 1;
                }
                tx.commit().map_err(map_err)?;
            }
            Ok(applied)
        })
        .await
    }

    pub(super) async fn call<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> StoreResult<R> + Send + 'static,
    ) -> StoreResult<R> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            // A panic inside `work` rolls back its open transaction when the
            // Transaction drops, so the connection is consistent: ignore poison.
            let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            work(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Other(format!("SQLite task failed: {e}")))?
    }
}

/// After a deletion: the write-ahead log, which still holds the deleted
/// rows' earlier pages, is copied into the database (where
/// `secure_delete` has zeroed them) and emptied, so the file on disk
/// keeps nothing of what was deleted. A reader holding the log open
/// leaves it for the next deletion's turn; that is not an error.
pub(super) fn scrub(conn: &rusqlite::Connection) -> super::StoreResult<()> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .map_err(map_err)
}
