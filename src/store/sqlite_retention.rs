//! Retention on SQLite (see `retention.rs`).

use async_trait::async_trait;
use conclave_actors::room_state::Millis;
use conclave_actors::{AccountId, ConferenceId};
use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use super::retention::{Retention, RetentionDays};
use super::sqlite::{map_err, uuid_col, SqliteStore};
use super::{StoreError, StoreResult};

fn days(v: Option<i64>) -> Option<u16> {
    v.and_then(|d| u16::try_from(d).ok())
}

#[async_trait]
impl Retention for SqliteStore {
    async fn retention(&self, organisation: Uuid) -> StoreResult<RetentionDays> {
        self.call(move |c| {
            c.query_row(
                "SELECT retention_summary_days, retention_chat_days FROM organisations WHERE id = ?1",
                [organisation.to_string()],
                |r| {
                    Ok(RetentionDays {
                        summary_days: days(r.get(0)?),
                        chat_days: days(r.get(1)?),
                    })
                },
            )
            .optional()
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)
        })
        .await
    }

    async fn set_retention(&self, organisation: Uuid, d: RetentionDays) -> StoreResult<()> {
        self.call(move |c| {
            let n = c
                .execute(
                    "UPDATE organisations SET retention_summary_days = ?2, retention_chat_days = ?3 WHERE id = ?1",
                    params![organisation.to_string(), d.summary_days, d.chat_days],
                )
                .map_err(map_err)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
        .await
    }

    async fn retention_accounts(&self) -> StoreResult<Vec<(AccountId, RetentionDays)>> {
        self.call(|c| {
            let mut q = c
                .prepare(
                    "SELECT a.id, o.retention_summary_days, o.retention_chat_days \
                     FROM accounts a JOIN organisations o ON o.id = a.organisation_id \
                     WHERE o.retention_summary_days IS NOT NULL OR o.retention_chat_days IS NOT NULL ORDER BY a.id",
                )
                .map_err(map_err)?;
            let rows = q
                .query_map([], |r| {
                    Ok((
                        AccountId(uuid_col(r, 0)?),
                        RetentionDays {
                            summary_days: days(r.get(1)?),
                            chat_days: days(r.get(2)?),
                        },
                    ))
                })
                .map_err(map_err)?
                .collect::<Result<_, _>>()
                .map_err(map_err)?;
            Ok(rows)
        })
        .await
    }

    async fn expired_before(
        &self,
        conference: ConferenceId,
        cutoff: Millis,
    ) -> StoreResult<Option<Millis>> {
        self.call(move |c| {
            let (before, any): (Millis, bool) = c
                .query_row(
                    "SELECT min(?2, COALESCE((SELECT min(started_at) FROM conference_sessions \
                                              WHERE conference_id = ?1 AND (ended_at IS NULL OR ended_at >= ?2)), ?2)), \
                            EXISTS (SELECT 1 FROM conference_sessions WHERE conference_id = ?1 AND ended_at < ?2)",
                    params![conference.0.to_string(), cutoff],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(map_err)?;
            Ok(any.then_some(before))
        })
        .await
    }

    async fn delete_chat_before(&self, account: AccountId, cutoff: Millis) -> StoreResult<u64> {
        self.call(move |c| {
            let n = c
                .execute(
                    "DELETE FROM chat_messages WHERE posted_at < ?2 \
                     AND conference_id IN (SELECT id FROM conferences WHERE account_id = ?1)",
                    params![account.0.to_string(), cutoff],
                )
                .map_err(map_err)?;
            if n > 0 {
                super::sqlite_open::scrub(c)?;
            }
            Ok(n as u64)
        })
        .await
    }
}
