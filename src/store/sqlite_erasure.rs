//! Erasing an account on SQLite (see `erasure.rs`).

use async_trait::async_trait;
use conclave_actors::room_state::Millis;
use conclave_actors::{AccountId, ConferenceId};
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::audit_chain::account_deletion_links;
use super::erasure::Erasure;
use super::sqlite::{map_err, uuid_col, SqliteStore};
use super::{StoreError, StoreResult};

#[async_trait]
impl Erasure for SqliteStore {
    async fn delete_account(
        &self,
        account: AccountId,
        at: Millis,
    ) -> StoreResult<Vec<ConferenceId>> {
        let chain_key = self.chain_key();
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
            let chains: Vec<(uuid::Uuid, i64)> = {
                let mut q = tx
                    .prepare(
                        "SELECT chain_id, count(*) FROM audit_log WHERE chain_id IS NOT NULL \
                         AND conference_id IN (SELECT id FROM conferences WHERE account_id = ?1) \
                         GROUP BY chain_id",
                    )
                    .map_err(map_err)?;
                let rows = q
                    .query_map(params![key], |r| Ok((uuid_col(r, 0)?, r.get(1)?)))
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
            let (email, organisation): (String, String) = tx
                .query_row(
                    "SELECT email, organisation_id FROM accounts WHERE id = ?1",
                    params![key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(map_err)?
                .ok_or(StoreError::NotFound)?;
            tx.execute("DELETE FROM accounts WHERE id = ?1", params![key])
                .map_err(map_err)?;
            // Its organisation keeps an admin if it has members left; its
            // own goes once empty; invitations to its address go.
            super::sqlite_organisations::keeps_an_admin(&tx, &organisation)?;
            tx.execute(
                "DELETE FROM organisation_invitations WHERE email = ?1",
                params![email],
            )
            .map_err(map_err)?;
            tx.execute(
                "DELETE FROM organisations WHERE id = ?1 \
                 AND NOT EXISTS (SELECT 1 FROM accounts WHERE organisation_id = ?1)",
                params![key],
            )
            .map_err(map_err)?;
            let organisation =
                uuid::Uuid::parse_str(&organisation).map_err(|_| StoreError::NotFound)?;
            for link in account_deletion_links(organisation, &chains, conferences.len(), at) {
                super::sqlite_history::write_one(&tx, &link, &chain_key)?;
            }
            tx.commit().map_err(map_err)?;
            super::sqlite_open::scrub(c)?;
            Ok(conferences)
        })
        .await
    }

    async fn erase_participants(
        &self,
        account: AccountId,
        participants: &[(uuid::Uuid, String)],
        at: conclave_actors::room_state::Millis,
    ) -> StoreResult<(u64, u64)> {
        let participants = participants.to_vec();
        self.call(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let key = account.to_string();
            let (mut seats, mut messages) = (0u64, 0u64);
            for (p, name) in &participants {
                seats += tx
                    .execute(
                        "UPDATE attendance SET name = ?3, phone_sealed = NULL WHERE participant_id = ?2 \
                         AND session_id IN (SELECT s.id FROM conference_sessions s JOIN conferences c \
                         ON c.id = s.conference_id WHERE c.account_id = ?1)",
                        params![key, p.to_string(), name],
                    )
                    .map_err(map_err)? as u64;
                messages += tx
                    .execute(
                        "UPDATE chat_messages SET sender_name = ?3, text = NULL, deleted_at = COALESCE(deleted_at, ?4) \
                         WHERE sender = ?2 AND conference_id IN (SELECT id FROM conferences WHERE account_id = ?1)",
                        params![key, p.to_string(), name, at],
                    )
                    .map_err(map_err)? as u64;
            }
            tx.commit().map_err(map_err)?;
            super::sqlite_open::scrub(c)?;
            Ok((seats, messages))
        })
        .await
    }
}
