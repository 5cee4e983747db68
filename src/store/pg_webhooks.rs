//! The webhook outbox on PostgreSQL (see `outbox.rs`).

use async_trait::async_trait;
use conclave_actors::room_state::Millis;
use conclave_actors::AccountId;
use tokio_postgres::Row;
use uuid::Uuid;

use super::outbox::{events_column, parse_events_column, Outbox};
use super::postgres::{map_err, PgStore};
use super::records::{DeliveryOutcome, DeliveryRow, DueDelivery, WebhookEndpointRow};
use super::{StoreError, StoreResult};

fn endpoint(r: &Row) -> StoreResult<WebhookEndpointRow> {
    let events: String = r.try_get(3).map_err(map_err)?;
    Ok(WebhookEndpointRow {
        id: r.try_get(0).map_err(map_err)?,
        account_id: AccountId(r.try_get(1).map_err(map_err)?),
        url: r.try_get(2).map_err(map_err)?,
        events: parse_events_column(&events),
        created_at: r.try_get(4).map_err(map_err)?,
    })
}

fn delivery(r: &Row) -> StoreResult<DeliveryRow> {
    Ok(DeliveryRow {
        event_seq: r.try_get(0).map_err(map_err)?,
        event_id: r.try_get(1).map_err(map_err)?,
        conference: r.try_get(2).map_err(map_err)?,
        kind: r.try_get(3).map_err(map_err)?,
        state: r.try_get(4).map_err(map_err)?,
        attempts: r.try_get(5).map_err(map_err)?,
        next_attempt_at: r.try_get(6).map_err(map_err)?,
        last_status: r.try_get(7).map_err(map_err)?,
        last_error: r.try_get(8).map_err(map_err)?,
        created_at: r.try_get(9).map_err(map_err)?,
        finished_at: r.try_get(10).map_err(map_err)?,
    })
}

/// The heads (oldest pending delivery of each endpoint and conference)
/// that are due and not leased; $1 now, $3 how many.
pub(super) const HEADS: &str = "SELECT y.endpoint_id, y.event_seq FROM \
     (SELECT h.endpoint_id, MIN(h.event_seq) AS seq FROM webhook_deliveries h \
      JOIN webhook_endpoints he ON he.id = h.endpoint_id AND he.deleted_at IS NULL \
      WHERE h.state = 'pending' GROUP BY h.endpoint_id, h.conference_id) x \
     JOIN webhook_deliveries y ON y.endpoint_id = x.endpoint_id AND y.event_seq = x.seq \
     WHERE y.next_attempt_at <= $1 AND (y.lease_until IS NULL OR y.lease_until < $1) \
     ORDER BY x.seq LIMIT $3";

#[async_trait]
impl Outbox for PgStore {
    async fn insert_webhook_endpoint(
        &self,
        row: &WebhookEndpointRow,
        secret_sealed: &[u8],
    ) -> StoreResult<()> {
        self.client()
            .await?
            .execute(
                "INSERT INTO webhook_endpoints (id, account_id, url, events, secret_sealed, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                &[&row.id, &row.account_id.0, &row.url, &events_column(&row.events), &secret_sealed, &row.created_at],
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn webhook_endpoints(&self, account: AccountId) -> StoreResult<Vec<WebhookEndpointRow>> {
        self.client()
            .await?
            .query(
                "SELECT id, account_id, url, events, created_at FROM webhook_endpoints \
                 WHERE account_id = $1 AND deleted_at IS NULL ORDER BY created_at, id",
                &[&account.0],
            )
            .await
            .map_err(map_err)?
            .iter()
            .map(endpoint)
            .collect()
    }

    async fn delete_webhook_endpoint(
        &self,
        account: AccountId,
        id: Uuid,
        at: Millis,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let n = tx
            .execute(
                "UPDATE webhook_endpoints SET deleted_at = $3 WHERE account_id = $1 AND id = $2 AND deleted_at IS NULL",
                &[&account.0, &id, &at],
            )
            .await
            .map_err(map_err)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        tx.execute(
            "DELETE FROM webhook_deliveries WHERE endpoint_id = $1 AND state = 'pending'",
            &[&id],
        )
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn claim_deliveries(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: usize,
    ) -> StoreResult<Vec<DueDelivery>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // The lease test is repeated outside the subquery: PostgreSQL checks
        // it again on a row another node leased meanwhile, so two nodes
        // never send the same delivery at once.
        let sql = format!(
            "UPDATE webhook_deliveries d SET lease_until = $2 \
             FROM webhook_endpoints e, webhook_events ev \
             WHERE e.id = d.endpoint_id AND ev.seq = d.event_seq AND d.state = 'pending' \
             AND (d.lease_until IS NULL OR d.lease_until < $1) \
             AND (d.endpoint_id, d.event_seq) IN ({HEADS}) \
             RETURNING d.endpoint_id, e.url, e.secret_sealed, d.event_seq, ev.id, d.conference_id, ev.body, ev.created_at, d.attempts"
        );
        let client = self.client().await?;
        let rows = client
            .query(&sql, &[&now, &lease_until, &limit])
            .await
            .map_err(map_err)?;
        let mut due = rows
            .iter()
            .map(|r| -> StoreResult<DueDelivery> {
                Ok(DueDelivery {
                    endpoint: r.try_get(0).map_err(map_err)?,
                    url: r.try_get(1).map_err(map_err)?,
                    secret_sealed: r.try_get(2).map_err(map_err)?,
                    event_seq: r.try_get(3).map_err(map_err)?,
                    event_id: r.try_get(4).map_err(map_err)?,
                    conference: r.try_get(5).map_err(map_err)?,
                    body: r.try_get(6).map_err(map_err)?,
                    created_at: r.try_get(7).map_err(map_err)?,
                    attempts: r.try_get(8).map_err(map_err)?,
                    lease_until,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        due.sort_by_key(|d| d.event_seq);
        Ok(due)
    }

    async fn finish_delivery(
        &self,
        claimed: &DueDelivery,
        outcome: &DeliveryOutcome,
        now: Millis,
    ) -> StoreResult<()> {
        let (endpoint, seq, lease) = (claimed.endpoint, claimed.event_seq, claimed.lease_until);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let (updated, gave_up) = match outcome {
            DeliveryOutcome::Delivered { status } => {
                let status = i32::from(*status);
                let n = tx
                    .execute(
                        "UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, last_status = $3, \
                         last_error = NULL, finished_at = $4, lease_until = NULL \
                         WHERE endpoint_id = $1 AND event_seq = $2 AND state = 'pending' AND lease_until = $5",
                        &[&endpoint, &seq, &status, &now, &lease],
                    )
                    .await
                    .map_err(map_err)?;
                (n, false)
            }
            DeliveryOutcome::Failed {
                status,
                error,
                retry_at,
            } => {
                let status = status.map(i32::from);
                let n = tx
                    .execute(
                        "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = $3, last_error = $4, lease_until = NULL, \
                         state = CASE WHEN $5::BIGINT IS NULL THEN 'failed' ELSE 'pending' END, \
                         next_attempt_at = COALESCE($5, next_attempt_at), \
                         finished_at = CASE WHEN $5::BIGINT IS NULL THEN $6::BIGINT ELSE NULL END \
                         WHERE endpoint_id = $1 AND event_seq = $2 AND state = 'pending' AND lease_until = $7",
                        &[&endpoint, &seq, &status, error, retry_at, &now, &lease],
                    )
                    .await
                    .map_err(map_err)?;
                (n, retry_at.is_none())
            }
        };
        if updated == 1 && gave_up {
            tx.execute(
                "UPDATE webhook_deliveries SET state = 'failed', last_error = $3, finished_at = $2 \
                 WHERE endpoint_id = $1 AND state = 'pending' AND (lease_until IS NULL OR lease_until < $2)",
                &[&endpoint, &now, &super::outbox::GAVE_UP],
            )
            .await
            .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn webhook_deliveries(
        &self,
        account: AccountId,
        endpoint: Uuid,
        limit: usize,
    ) -> StoreResult<Vec<DeliveryRow>> {
        let client = self.client().await?;
        let owned = client
            .query_opt(
                "SELECT 1 FROM webhook_endpoints WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL",
                &[&endpoint, &account.0],
            )
            .await
            .map_err(map_err)?;
        if owned.is_none() {
            return Err(StoreError::NotFound);
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        client
            .query(
                "SELECT d.event_seq, ev.id, d.conference_id, ev.type, d.state, d.attempts, d.next_attempt_at, \
                 d.last_status, d.last_error, ev.created_at, d.finished_at \
                 FROM webhook_deliveries d JOIN webhook_events ev ON ev.seq = d.event_seq \
                 WHERE d.endpoint_id = $1 ORDER BY d.event_seq DESC LIMIT $2",
                &[&endpoint, &limit],
            )
            .await
            .map_err(map_err)?
            .iter()
            .map(delivery)
            .collect()
    }

    async fn retry_delivery(
        &self,
        account: AccountId,
        endpoint: Uuid,
        event_seq: i64,
        now: Millis,
    ) -> StoreResult<()> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE webhook_deliveries d SET state = 'pending', next_attempt_at = $4, finished_at = NULL, lease_until = NULL \
                 FROM webhook_endpoints e WHERE e.id = d.endpoint_id AND e.account_id = $1 AND e.deleted_at IS NULL \
                 AND d.endpoint_id = $2 AND d.event_seq = $3 AND d.state = 'failed'",
                &[&account.0, &endpoint, &event_seq, &now],
            )
            .await
            .map_err(map_err)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn prune_webhooks(&self, before: Millis) -> StoreResult<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let n = tx
            .execute(
                "DELETE FROM webhook_deliveries WHERE state <> 'pending' AND finished_at < $1",
                &[&before],
            )
            .await
            .map_err(map_err)?;
        // A deleted endpoint's rows go whatever their state (one a batch
        // wrote while it was being deleted would otherwise wait forever),
        // then the endpoint itself with its sealed secret.
        tx.execute(
            "DELETE FROM webhook_deliveries d USING webhook_endpoints e \
             WHERE e.id = d.endpoint_id AND e.deleted_at IS NOT NULL",
            &[],
        )
        .await
        .map_err(map_err)?;
        tx.execute(
            "DELETE FROM webhook_endpoints WHERE deleted_at < $1",
            &[&before],
        )
        .await
        .map_err(map_err)?;
        tx.execute(
            "DELETE FROM webhook_events ev WHERE ev.created_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_seq = ev.seq)",
            &[&before],
        )
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(n)
    }
}
