//! Retention on PostgreSQL (see `retention.rs`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use conclave_actors::room_state::Millis;
use conclave_actors::{AccountId, ConferenceId};
use uuid::Uuid;

use super::postgres::{map_err, PgStore};
use super::retention::{Retention, RetentionDays};
use super::{StoreError, StoreResult};

fn t(ms: Millis) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn days(v: Option<i32>) -> Option<u16> {
    v.and_then(|d| u16::try_from(d).ok())
}

#[async_trait]
impl Retention for PgStore {
    async fn retention(&self, organisation: Uuid) -> StoreResult<RetentionDays> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT retention_summary_days, retention_chat_days FROM organisations WHERE id = $1",
                &[&organisation],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        Ok(RetentionDays {
            summary_days: days(row.try_get(0).map_err(map_err)?),
            chat_days: days(row.try_get(1).map_err(map_err)?),
        })
    }

    async fn set_retention(&self, organisation: Uuid, d: RetentionDays) -> StoreResult<()> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE organisations SET retention_summary_days = $2, retention_chat_days = $3 WHERE id = $1",
                &[
                    &organisation,
                    &d.summary_days.map(i32::from),
                    &d.chat_days.map(i32::from),
                ],
            )
            .await
            .map_err(map_err)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn retention_accounts(&self) -> StoreResult<Vec<(AccountId, RetentionDays)>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT a.id, o.retention_summary_days, o.retention_chat_days \
                 FROM accounts a JOIN organisations o ON o.id = a.organisation_id \
                 WHERE o.retention_summary_days IS NOT NULL OR o.retention_chat_days IS NOT NULL ORDER BY a.id",
                &[],
            )
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok((
                    AccountId(r.try_get(0).map_err(map_err)?),
                    RetentionDays {
                        summary_days: days(r.try_get(1).map_err(map_err)?),
                        chat_days: days(r.try_get(2).map_err(map_err)?),
                    },
                ))
            })
            .collect()
    }

    async fn expired_before(
        &self,
        conference: ConferenceId,
        cutoff: Millis,
    ) -> StoreResult<Option<Millis>> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT LEAST($2, (SELECT min(started_at) FROM conference_sessions \
                                   WHERE conference_id = $1 AND (ended_at IS NULL OR ended_at >= $2))), \
                        EXISTS (SELECT 1 FROM conference_sessions \
                                WHERE conference_id = $1 AND ended_at < $2)",
                &[&conference.0, &t(cutoff)],
            )
            .await
            .map_err(map_err)?;
        let before: DateTime<Utc> = row.try_get(0).map_err(map_err)?;
        let any: bool = row.try_get(1).map_err(map_err)?;
        Ok(any.then(|| before.timestamp_millis()))
    }

    async fn delete_chat_before(&self, account: AccountId, cutoff: Millis) -> StoreResult<u64> {
        self.client()
            .await?
            .execute(
                "DELETE FROM chat_messages WHERE posted_at < $2 \
                 AND conference_id IN (SELECT id FROM conferences WHERE account_id = $1)",
                &[&account.0, &t(cutoff)],
            )
            .await
            .map_err(map_err)
    }
}
