//! API keys on SQLite: the same as `pg_api_keys.rs`, with UUIDs as text.

use conclave_actors::room_state::Millis;
use conclave_actors::AccountId;
use rusqlite::{params, OptionalExtension, Row};
use uuid::Uuid;

use super::records::ApiKeyRow;
use super::sqlite::{map_err, uuid_col, SqliteStore};
use super::{StoreError, StoreResult};

const COLUMNS: &str = "id, account_id, name, created_at, revoked_at";

fn key(r: &Row) -> rusqlite::Result<ApiKeyRow> {
    Ok(ApiKeyRow {
        id: uuid_col(r, 0)?,
        account_id: AccountId(uuid_col(r, 1)?),
        name: r.get(2)?,
        created_at: r.get(3)?,
        revoked_at: r.get(4)?,
    })
}

impl SqliteStore {
    pub(super) async fn insert_api_key_sqlite(
        &self,
        row: &ApiKeyRow,
        key_hash: &[u8],
    ) -> StoreResult<()> {
        let (row, key_hash) = (row.clone(), key_hash.to_vec());
        self.call(move |c| {
            c.execute(
                "INSERT INTO api_keys (id, account_id, name, key_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![row.id.to_string(), row.account_id.to_string(), row.name, key_hash, row.created_at],
            )
            .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    pub(super) async fn api_keys_sqlite(&self, account: AccountId) -> StoreResult<Vec<ApiKeyRow>> {
        self.call(move |c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM api_keys WHERE account_id = ?1 ORDER BY created_at, id"
                ))
                .map_err(map_err)?;
            let rows = stmt
                .query_map(params![account.to_string()], key)
                .map_err(map_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(map_err)?;
            Ok(rows)
        })
        .await
    }

    pub(super) async fn api_key_sqlite(&self, id: Uuid) -> StoreResult<ApiKeyRow> {
        self.call(move |c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"),
                params![id.to_string()],
                key,
            )
            .optional()
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)
        })
        .await
    }

    pub(super) async fn api_key_by_hash_sqlite(&self, key_hash: &[u8]) -> StoreResult<ApiKeyRow> {
        let key_hash = key_hash.to_vec();
        self.call(move |c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM api_keys WHERE key_hash = ?1"),
                params![key_hash],
                key,
            )
            .optional()
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)
        })
        .await
    }

    pub(super) async fn revoke_api_key_sqlite(
        &self,
        account: AccountId,
        id: Uuid,
        at: Millis,
    ) -> StoreResult<()> {
        self.call(move |c| {
            let n = c
                .execute(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?3) WHERE account_id = ?1 AND id = ?2",
                    params![account.to_string(), id.to_string(), at],
                )
                .map_err(map_err)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
        .await
    }
}
