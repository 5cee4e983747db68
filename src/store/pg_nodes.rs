//! Server nodes on PostgreSQL: heartbeats, and closing the sessions a node
//! that stopped without closing its rooms left open (docs/persistence.md).

use chrono::{DateTime, Utc};
use conclave_actors::room_state::Millis;
use uuid::Uuid;

use super::postgres::{map_err, PgStore};
use super::StoreResult;

fn t(ms: Millis) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Open sessions of `$1` (this node, restarted), of nodes not alive since
/// `$2` (or not recorded at all), or of no node (opened before nodes were
/// recorded), each with the time of its last recorded event.
const ABANDONED: &str = "\
SELECT s.id, GREATEST(s.started_at,
    (SELECT MAX(GREATEST(joined_at, left_at)) FROM attendance WHERE session_id = s.id),
    (SELECT MAX(at) FROM audit_log WHERE session_id = s.id),
    (SELECT MAX(GREATEST(posted_at, deleted_at)) FROM chat_messages WHERE session_id = s.id),
    (SELECT MAX(GREATEST(uploaded_at, removed_at)) FROM documents WHERE session_id = s.id))
FROM conference_sessions s
WHERE s.ended_at IS NULL
  AND (s.node_id IS NULL OR s.node_id = $1
       OR s.node_id NOT IN (SELECT id FROM server_nodes WHERE heartbeat_at >= $2))
FOR UPDATE OF s";

impl PgStore {
    pub(super) async fn node_alive_pg(&self, node: Uuid, at: Millis) -> StoreResult<()> {
        self.client()
            .await?
            .execute(
                "INSERT INTO server_nodes (id, heartbeat_at) VALUES ($1, $2) \
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at",
                &[&node, &t(at)],
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    pub(super) async fn node_stopped_pg(&self, node: Uuid) -> StoreResult<()> {
        self.client()
            .await?
            .execute("DELETE FROM server_nodes WHERE id = $1", &[&node])
            .await
            .map_err(map_err)?;
        Ok(())
    }

    pub(super) async fn nodes_alive_since_pg(&self, since: Millis) -> StoreResult<u64> {
        let n: i64 = self
            .client()
            .await?
            .query_one(
                "SELECT count(*) FROM server_nodes WHERE heartbeat_at >= $1",
                &[&t(since)],
            )
            .await
            .map_err(map_err)?
            .try_get(0)
            .map_err(map_err)?;
        Ok(n as u64)
    }

    pub(super) async fn close_abandoned_pg(
        &self,
        own: Option<Uuid>,
        stale_before: Millis,
    ) -> StoreResult<Vec<Uuid>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let rows = tx
            .query(ABANDONED, &[&own, &t(stale_before)])
            .await
            .map_err(map_err)?;
        let mut closed = Vec::with_capacity(rows.len());
        for row in rows {
            let session: Uuid = row.try_get(0).map_err(map_err)?;
            let last: DateTime<Utc> = row.try_get(1).map_err(map_err)?;
            let seats = tx
                .query(
                    "UPDATE attendance SET left_at = $2, left_reason = 'server_stopped' \
                     WHERE session_id = $1 AND left_at IS NULL RETURNING participant_id",
                    &[&session, &last],
                )
                .await
                .map_err(map_err)?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<Vec<Uuid>, _>>()
                .map_err(map_err)?;
            let conference: Uuid = tx
                .query_one(
                    "SELECT conference_id FROM conference_sessions WHERE id = $1",
                    &[&session],
                )
                .await
                .map_err(map_err)?
                .try_get(0)
                .map_err(map_err)?;
            // Webhooks hear of it as of a room that closed, in this same
            // transaction.
            let told = crate::webhooks::events::abandoned(
                conference,
                session,
                &seats,
                last.timestamp_millis(),
            );
            for r in told {
                let (sql, params) = super::pg_history::statement(r);
                let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                    .iter()
                    .map(|p| p.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
                    .collect();
                tx.execute(sql, &refs).await.map_err(map_err)?;
            }
            tx.execute(
                "UPDATE conference_sessions SET ended_at = $2 WHERE id = $1",
                &[&session, &last],
            )
            .await
            .map_err(map_err)?;
            closed.push(session);
        }
        // Their sessions are closed: stale nodes are forgotten.
        tx.execute(
            "DELETE FROM server_nodes WHERE heartbeat_at < $1",
            &[&t(stale_before)],
        )
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(closed)
    }
}
