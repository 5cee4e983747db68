//! Encryption at rest on PostgreSQL (see `sealed.rs`).

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use super::postgres::{map_err, PgStore};
use super::sealed::{reseal_text, Resealed, Resealer, Sealed, SealedStore, TEXT_VALUES, VALUES};
use super::{StoreError, StoreResult};

fn refused() -> StoreError {
    StoreError::Conflict("encryption_key")
}

#[async_trait]
impl SealedStore for PgStore {
    async fn session_keys(&self, sessions: Vec<Uuid>) -> StoreResult<Vec<(Uuid, Vec<u8>)>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT id, data_key FROM conference_sessions WHERE id = ANY($1) AND data_key IS NOT NULL",
                &[&sessions],
            )
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(map_err)?,
                    r.try_get(1).map_err(map_err)?,
                ))
            })
            .collect()
    }

    async fn key_check(&self, fresh: Vec<u8>) -> StoreResult<Vec<u8>> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO key_checks (name, sealed) VALUES ('encryption', $1) ON CONFLICT DO NOTHING",
                &[&fresh],
            )
            .await
            .map_err(map_err)?;
        client
            .query_one(
                "SELECT sealed FROM key_checks WHERE name = 'encryption'",
                &[],
            )
            .await
            .map_err(map_err)?
            .try_get(0)
            .map_err(map_err)
    }

    async fn reseal(&self, with: Arc<Resealer>) -> StoreResult<Resealed> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let mut done = Resealed::default();
        let keys = tx
            .query(
                "SELECT id, data_key FROM conference_sessions WHERE data_key IS NOT NULL FOR UPDATE",
                &[],
            )
            .await
            .map_err(map_err)?;
        for r in keys {
            let (id, old): (Uuid, Vec<u8>) = (
                r.try_get(0).map_err(map_err)?,
                r.try_get(1).map_err(map_err)?,
            );
            let new = with(Sealed::SummaryKey(id), &old).ok_or_else(refused)?;
            tx.execute(
                "UPDATE conference_sessions SET data_key = $2 WHERE id = $1",
                &[&id, &new],
            )
            .await
            .map_err(map_err)?;
            done.summary_keys += 1;
        }
        for (table, column) in TEXT_VALUES {
            let found = tx
                .query(
                    &format!("SELECT ctid::text, {column} FROM {table} FOR UPDATE"),
                    &[],
                )
                .await
                .map_err(map_err)?;
            for r in found {
                let (at, old): (String, String) = (
                    r.try_get(0).map_err(map_err)?,
                    r.try_get(1).map_err(map_err)?,
                );
                let Some(new) = reseal_text(&*with, &old) else {
                    continue;
                };
                tx.execute(
                    &format!("UPDATE {table} SET {column} = $2 WHERE ctid = $1::text::tid"),
                    &[&at, &new],
                )
                .await
                .map_err(map_err)?;
                done.values += 1;
            }
        }
        for (table, column, rows) in VALUES {
            let found = tx
                .query(
                    &format!("SELECT ctid::text, {column} FROM {table} WHERE {rows} FOR UPDATE"),
                    &[],
                )
                .await
                .map_err(map_err)?;
            for r in found {
                let (at, old): (String, Vec<u8>) = (
                    r.try_get(0).map_err(map_err)?,
                    r.try_get(1).map_err(map_err)?,
                );
                let new = with(Sealed::Value, &old).ok_or_else(refused)?;
                tx.execute(
                    &format!("UPDATE {table} SET {column} = $2 WHERE ctid = $1::text::tid"),
                    &[&at, &new],
                )
                .await
                .map_err(map_err)?;
                done.values += 1;
            }
        }
        if let Some(r) = tx
            .query_opt(
                "SELECT sealed FROM key_checks WHERE name = 'encryption' FOR UPDATE",
                &[],
            )
            .await
            .map_err(map_err)?
        {
            let old: Vec<u8> = r.try_get(0).map_err(map_err)?;
            let new = with(Sealed::Check, &old).ok_or_else(refused)?;
            tx.execute(
                "UPDATE key_checks SET sealed = $1 WHERE name = 'encryption'",
                &[&new],
            )
            .await
            .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(done)
    }
}
