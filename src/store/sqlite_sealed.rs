//! Encryption at rest on SQLite (see `sealed.rs`).

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{params, params_from_iter, TransactionBehavior};
use uuid::Uuid;

use super::sealed::{reseal_text, Resealed, Resealer, Sealed, SealedStore, TEXT_VALUES, VALUES};
use super::sqlite::{map_err, uuid_col, SqliteStore};
use super::{StoreError, StoreResult};

fn refused() -> StoreError {
    StoreError::Conflict("encryption_key")
}

#[async_trait]
impl SealedStore for SqliteStore {
    async fn session_keys(&self, sessions: Vec<Uuid>) -> StoreResult<Vec<(Uuid, Vec<u8>)>> {
        self.call(move |c| {
            let mut out = Vec::new();
            for batch in sessions.chunks(500) {
                let marks = vec!["?"; batch.len()].join(", ");
                let mut q = c
                    .prepare(&format!(
                        "SELECT id, data_key FROM conference_sessions WHERE id IN ({marks}) AND data_key IS NOT NULL"
                    ))
                    .map_err(map_err)?;
                let rows = q
                    .query_map(params_from_iter(batch.iter().map(|s| s.to_string())), |r| {
                        Ok((uuid_col(r, 0)?, r.get::<_, Vec<u8>>(1)?))
                    })
                    .map_err(map_err)?;
                for r in rows {
                    out.push(r.map_err(map_err)?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn key_check(&self, fresh: Vec<u8>) -> StoreResult<Vec<u8>> {
        self.call(move |c| {
            c.execute(
                "INSERT INTO key_checks (name, sealed) VALUES ('encryption', ?1) ON CONFLICT DO NOTHING",
                params![fresh],
            )
            .map_err(map_err)?;
            c.query_row("SELECT sealed FROM key_checks WHERE name = 'encryption'", [], |r| r.get(0))
                .map_err(map_err)
        })
        .await
    }

    async fn reseal(&self, with: Arc<Resealer>) -> StoreResult<Resealed> {
        self.call(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let mut done = Resealed::default();
            let keys: Vec<(Uuid, Vec<u8>)> = {
                let mut q = tx
                    .prepare(
                        "SELECT id, data_key FROM conference_sessions WHERE data_key IS NOT NULL",
                    )
                    .map_err(map_err)?;
                let rows = q
                    .query_map([], |r| Ok((uuid_col(r, 0)?, r.get(1)?)))
                    .map_err(map_err)?;
                rows.collect::<Result<_, _>>().map_err(map_err)?
            };
            for (id, old) in keys {
                let new = with(Sealed::SummaryKey(id), &old).ok_or_else(refused)?;
                tx.execute(
                    "UPDATE conference_sessions SET data_key = ?2 WHERE id = ?1",
                    params![id.to_string(), new],
                )
                .map_err(map_err)?;
                done.summary_keys += 1;
            }
            for (table, column) in TEXT_VALUES {
                let found: Vec<(i64, String)> = {
                    let mut q = tx
                        .prepare(&format!("SELECT rowid, {column} FROM {table}"))
                        .map_err(map_err)?;
                    let found = q
                        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                        .map_err(map_err)?;
                    found.collect::<Result<_, _>>().map_err(map_err)?
                };
                for (at, old) in found {
                    let Some(new) = reseal_text(&*with, &old) else {
                        continue;
                    };
                    tx.execute(
                        &format!("UPDATE {table} SET {column} = ?2 WHERE rowid = ?1"),
                        params![at, new],
                    )
                    .map_err(map_err)?;
                    done.values += 1;
                }
            }
            for (table, column, rows) in VALUES {
                let found: Vec<(i64, Vec<u8>)> = {
                    let mut q = tx
                        .prepare(&format!("SELECT rowid, {column} FROM {table} WHERE {rows}"))
                        .map_err(map_err)?;
                    let found = q
                        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                        .map_err(map_err)?;
                    found.collect::<Result<_, _>>().map_err(map_err)?
                };
                for (at, old) in found {
                    let new = with(Sealed::Value, &old).ok_or_else(refused)?;
                    tx.execute(
                        &format!("UPDATE {table} SET {column} = ?2 WHERE rowid = ?1"),
                        params![at, new],
                    )
                    .map_err(map_err)?;
                    done.values += 1;
                }
            }
            let check: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT sealed FROM key_checks WHERE name = 'encryption'",
                    [],
                    |r| r.get(0),
                )
                .ok();
            if let Some(old) = check {
                let new = with(Sealed::Check, &old).ok_or_else(refused)?;
                tx.execute(
                    "UPDATE key_checks SET sealed = ?1 WHERE name = 'encryption'",
                    params![new],
                )
                .map_err(map_err)?;
            }
            tx.commit().map_err(map_err)?;
            super::sqlite_open::scrub(c)?;
            Ok(done)
        })
        .await
    }
}
