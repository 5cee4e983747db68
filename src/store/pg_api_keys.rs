//! API keys on PostgreSQL (docs/tokens.md): created, listed and revoked by
//! their account; found by id when a join token names one, and by hash
//! when an application presents one.

use conclave_actors::room_state::Millis;
use conclave_actors::AccountId;
use tokio_postgres::Row;
use uuid::Uuid;

use super::postgres::{map_err, PgStore};
use super::records::ApiKeyRow;
use super::{StoreError, StoreResult};

const COLUMNS: &str = "id, account_id, name, created_at, revoked_at";

fn key(r: &Row) -> StoreResult<ApiKeyRow> {
    Ok(ApiKeyRow {
        id: r.try_get(0).map_err(map_err)?,
        account_id: AccountId(r.try_get(1).map_err(map_err)?),
        name: r.try_get(2).map_err(map_err)?,
        created_at: r.try_get(3).map_err(map_err)?,
        revoked_at: r.try_get(4).map_err(map_err)?,
    })
}

impl PgStore {
    pub(super) async fn insert_api_key_pg(
        &self,
        row: &ApiKeyRow,
        key_hash: &[u8],
    ) -> StoreResult<()> {
        self.client()
            .await?
            .execute(
                "INSERT INTO api_keys (id, account_id, name, key_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
                &[&row.id, &row.account_id.0, &row.name, &key_hash, &row.created_at],
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    pub(super) async fn api_keys_pg(&self, account: AccountId) -> StoreResult<Vec<ApiKeyRow>> {
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM api_keys WHERE account_id = $1 ORDER BY created_at, id"
                ),
                &[&account.0],
            )
            .await
            .map_err(map_err)?;
        rows.iter().map(key).collect()
    }

    pub(super) async fn api_key_pg(&self, id: Uuid) -> StoreResult<ApiKeyRow> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        key(&row)
    }

    pub(super) async fn api_key_by_hash_pg(&self, key_hash: &[u8]) -> StoreResult<ApiKeyRow> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!("SELECT {COLUMNS} FROM api_keys WHERE key_hash = $1"),
                &[&key_hash],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        key(&row)
    }

    pub(super) async fn revoke_api_key_pg(
        &self,
        account: AccountId,
        id: Uuid,
        at: Millis,
    ) -> StoreResult<()> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE account_id = $1 AND id = $2",
                &[&account.0, &id, &at],
            )
            .await
            .map_err(map_err)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
