//! The webhook outbox on SQLite: the same as `pg_webhooks.rs`, with UUIDs
//! as text. One connection serialises the claims.

use async_trait::async_trait;
use conclave_actors::room_state::Millis;
use conclave_actors::AccountId;
use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};
use uuid::Uuid;

use super::outbox::{events_column, parse_events_column, Outbox};
use super::records::{DeliveryOutcome, DeliveryRow, DueDelivery, WebhookEndpointRow};
use super::sqlite::{map_err, uuid_col, SqliteStore};
use super::{StoreError, StoreResult};

fn endpoint(r: &Row) -> rusqlite::Result<WebhookEndpointRow> {
    let events: String = r.get(3)?;
    Ok(WebhookEndpointRow {
        id: uuid_col(r, 0)?,
        account_id: AccountId(uuid_col(r, 1)?),
        url: r.get(2)?,
        events: parse_events_column(&events),
        created_at: r.get(4)?,
    })
}

fn delivery(r: &Row) -> rusqlite::Result<DeliveryRow> {
    Ok(DeliveryRow {
        event_seq: r.get(0)?,
        event_id: uuid_col(r, 1)?,
        conference: uuid_col(r, 2)?,
        kind: r.get(3)?,
        state: r.get(4)?,
        attempts: r.get(5)?,
        next_attempt_at: r.get(6)?,
        last_status: r.get(7)?,
        last_error: r.get(8)?,
        created_at: r.get(9)?,
        finished_at: r.get(10)?,
    })
}

#[async_trait]
impl Outbox for SqliteStore {
    async fn insert_webhook_endpoint(
        &self,
        row: &WebhookEndpointRow,
        secret_sealed: &[u8],
    ) -> StoreResult<()> {
        let (row, secret) = (row.clone(), secret_sealed.to_vec());
        self.call(move |c| {
            c.execute(
                "INSERT INTO webhook_endpoints (id, account_id, url, events, secret_sealed, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![row.id.to_string(), row.account_id.to_string(), row.url, events_column(&row.events), secret, row.created_at],
            )
            .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn webhook_endpoints(&self, account: AccountId) -> StoreResult<Vec<WebhookEndpointRow>> {
        self.call(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT id, account_id, url, events, created_at FROM webhook_endpoints \
                     WHERE account_id = ?1 AND deleted_at IS NULL ORDER BY created_at, id",
                )
                .map_err(map_err)?;
            let rows = stmt
                .query_map(params![account.to_string()], endpoint)
                .map_err(map_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(map_err)?;
            Ok(rows)
        })
        .await
    }

    async fn delete_webhook_endpoint(
        &self,
        account: AccountId,
        id: Uuid,
        at: Millis,
    ) -> StoreResult<()> {
        self.call(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let n = tx
                .execute(
                    "UPDATE webhook_endpoints SET deleted_at = ?3 WHERE account_id = ?1 AND id = ?2 AND deleted_at IS NULL",
                    params![account.to_string(), id.to_string(), at],
                )
                .map_err(map_err)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            tx.execute(
                "DELETE FROM webhook_deliveries WHERE endpoint_id = ?1 AND state = 'pending'",
                params![id.to_string()],
            )
            .map_err(map_err)?;
            tx.commit().map_err(map_err)
        })
        .await
    }

    async fn claim_deliveries(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: usize,
    ) -> StoreResult<Vec<DueDelivery>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let heads: Vec<(String, i64)> = {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT y.endpoint_id, y.event_seq FROM \
                         (SELECT h.endpoint_id, MIN(h.event_seq) AS seq FROM webhook_deliveries h \
                          JOIN webhook_endpoints he ON he.id = h.endpoint_id AND he.deleted_at IS NULL \
                          WHERE h.state = 'pending' GROUP BY h.endpoint_id, h.conference_id) x \
                         JOIN webhook_deliveries y ON y.endpoint_id = x.endpoint_id AND y.event_seq = x.seq \
                         WHERE y.next_attempt_at <= ?1 AND (y.lease_until IS NULL OR y.lease_until < ?1) \
                         ORDER BY x.seq LIMIT ?2",
                    )
                    .map_err(map_err)?;
                let rows = stmt
                    .query_map(params![now, limit], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(map_err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(map_err)?;
                rows
            };
            let mut due = Vec::with_capacity(heads.len());
            for (endpoint_id, seq) in heads {
                tx.execute(
                    "UPDATE webhook_deliveries SET lease_until = ?3 WHERE endpoint_id = ?1 AND event_seq = ?2",
                    params![endpoint_id, seq, lease_until],
                )
                .map_err(map_err)?;
                let d = tx
                    .query_row(
                        "SELECT d.endpoint_id, e.url, e.secret_sealed, d.event_seq, ev.id, d.conference_id, ev.body, ev.created_at, d.attempts \
                         FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
                         JOIN webhook_events ev ON ev.seq = d.event_seq WHERE d.endpoint_id = ?1 AND d.event_seq = ?2",
                        params![endpoint_id, seq],
                        |r| {
                            Ok(DueDelivery {
                                endpoint: uuid_col(r, 0)?,
                                url: r.get(1)?,
                                secret_sealed: r.get(2)?,
                                event_seq: r.get(3)?,
                                event_id: uuid_col(r, 4)?,
                                conference: uuid_col(r, 5)?,
                                body: r.get(6)?,
                                created_at: r.get(7)?,
                                attempts: r.get(8)?,
                                lease_until,
                            })
                        },
                    )
                    .map_err(map_err)?;
                due.push(d);
            }
            tx.commit().map_err(map_err)?;
            Ok(due)
        })
        .await
    }

    async fn finish_delivery(
        &self,
        claimed: &DueDelivery,
        outcome: &DeliveryOutcome,
        now: Millis,
    ) -> StoreResult<()> {
        let outcome = outcome.clone();
        let (key, seq, lease) = (
            claimed.endpoint.to_string(),
            claimed.event_seq,
            claimed.lease_until,
        );
        self.call(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let (updated, gave_up) = match outcome {
                DeliveryOutcome::Delivered { status } => (
                    tx.execute(
                        "UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, last_status = ?3, \
                         last_error = NULL, finished_at = ?4, lease_until = NULL \
                         WHERE endpoint_id = ?1 AND event_seq = ?2 AND state = 'pending' AND lease_until = ?5",
                        params![key, seq, status, now, lease],
                    )
                    .map_err(map_err)?,
                    false,
                ),
                DeliveryOutcome::Failed { status, error, retry_at } => (
                    tx.execute(
                        "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = ?3, last_error = ?4, lease_until = NULL, \
                         state = CASE WHEN ?5 IS NULL THEN 'failed' ELSE 'pending' END, \
                         next_attempt_at = COALESCE(?5, next_attempt_at), \
                         finished_at = CASE WHEN ?5 IS NULL THEN ?6 ELSE NULL END \
                         WHERE endpoint_id = ?1 AND event_seq = ?2 AND state = 'pending' AND lease_until = ?7",
                        params![key, seq, status, error, retry_at, now, lease],
                    )
                    .map_err(map_err)?,
                    retry_at.is_none(),
                ),
            };
            if updated == 1 && gave_up {
                tx.execute(
                    "UPDATE webhook_deliveries SET state = 'failed', last_error = ?3, finished_at = ?2 \
                     WHERE endpoint_id = ?1 AND state = 'pending' AND (lease_until IS NULL OR lease_until < ?2)",
                    params![key, now, super::outbox::GAVE_UP],
                )
                .map_err(map_err)?;
            }
            tx.commit().map_err(map_err)
        })
        .await
    }

    async fn webhook_deliveries(
        &self,
        account: AccountId,
        endpoint: Uuid,
        limit: usize,
    ) -> StoreResult<Vec<DeliveryRow>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(move |c| {
            let key = endpoint.to_string();
            c.query_row(
                "SELECT 1 FROM webhook_endpoints WHERE id = ?1 AND account_id = ?2 AND deleted_at IS NULL",
                params![key, account.to_string()],
                |_| Ok(()),
            )
            .optional()
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
            let mut stmt = c
                .prepare_cached(
                    "SELECT d.event_seq, ev.id, d.conference_id, ev.type, d.state, d.attempts, d.next_attempt_at, \
                     d.last_status, d.last_error, ev.created_at, d.finished_at \
                     FROM webhook_deliveries d JOIN webhook_events ev ON ev.seq = d.event_seq \
                     WHERE d.endpoint_id = ?1 ORDER BY d.event_seq DESC LIMIT ?2",
                )
                .map_err(map_err)?;
            let rows = stmt
                .query_map(params![key, limit], delivery)
                .map_err(map_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(map_err)?;
            Ok(rows)
        })
        .await
    }

    async fn retry_delivery(
        &self,
        account: AccountId,
        endpoint: Uuid,
        event_seq: i64,
        now: Millis,
    ) -> StoreResult<()> {
        self.call(move |c| {
            let n = c
                .execute(
                    "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = ?4, finished_at = NULL, lease_until = NULL \
                     WHERE endpoint_id = ?2 AND event_seq = ?3 AND state = 'failed' AND endpoint_id IN \
                     (SELECT id FROM webhook_endpoints WHERE account_id = ?1 AND deleted_at IS NULL)",
                    params![account.to_string(), endpoint.to_string(), event_seq, now],
                )
                .map_err(map_err)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
        .await
    }

    async fn prune_webhooks(&self, before: Millis) -> StoreResult<u64> {
        self.call(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let n = tx
                .execute(
                    "DELETE FROM webhook_deliveries WHERE state <> 'pending' AND finished_at < ?1",
                    params![before],
                )
                .map_err(map_err)?;
            // As on PostgreSQL: a deleted endpoint's rows, then the endpoint.
            tx.execute(
                "DELETE FROM webhook_deliveries WHERE endpoint_id IN \
                 (SELECT id FROM webhook_endpoints WHERE deleted_at IS NOT NULL)",
                [],
            )
            .map_err(map_err)?;
            tx.execute(
                "DELETE FROM webhook_endpoints WHERE deleted_at < ?1",
                params![before],
            )
            .map_err(map_err)?;
            tx.execute(
                "DELETE FROM webhook_events WHERE created_at < ?1 \
                 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_seq = webhook_events.seq)",
                params![before],
            )
            .map_err(map_err)?;
            tx.commit().map_err(map_err)?;
            Ok(n as u64)
        })
        .await
    }
}
