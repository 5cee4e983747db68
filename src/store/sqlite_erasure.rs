//! Erasing an account on SQLite (see `erasure.rs`).

use async_trait::async_trait;
use conclave_actors::{AccountId, ConferenceId};
use rusqlite::{params, TransactionBehavior};

use super::erasure::Erasure;
use super::sqlite::{map_err, uuid_col, SqliteStore};
use super::{StoreError, StoreResult};

#[async_trait]
impl Erasure for SqliteStore {
    async fn delete_account(&self, account: AccountId) -> StoreResult<Vec<ConferenceId>> {
        self.call(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let key = account.to_string();
            let conferences: Vec<ConferenceId> = {
                let mut q = tx
                    .prepare("SELECT id FROM conferences WHERE account_id = ?1")
                    .map_err(map_err)?;
                let rows = q
                    .query_map(params![key], |r| uuid_col(r, 0).map(ConferenceId))
                    .map_err(map_err)?
                    .collect::<Result<_, _>>()
                    .map_err(map_err)?;
                rows
            };
            tx.execute(
                "DELETE FROM webhook_events WHERE conference_id IN \
                 (SELECT id FROM conferences WHERE account_id = ?1)",
                params![key],
            )
            .map_err(map_err)?;
            let n = tx
                .execute("DELETE FROM accounts WHERE id = ?1", params![key])
                .map_err(map_err)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            tx.commit().map_err(map_err)?;
            Ok(conferences)
        })
        .await
    }
}
