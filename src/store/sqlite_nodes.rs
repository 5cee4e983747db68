//! Server nodes on SQLite: the same as `pg_nodes.rs`, with UUIDs as text
//! and times as milliseconds.

use conclave_actors::room_state::Millis;
use rusqlite::{params, TransactionBehavior};
use uuid::Uuid;

use super::sqlite::{map_err, uuid_col, SqliteStore};
use super::StoreResult;

/// As in `pg_nodes.rs`. SQLite's `MAX(a, b, ...)` is NULL when any
/// argument is, hence the `COALESCE`s.
const ABANDONED: &str = "\
SELECT s.id, MAX(s.started_at,
    COALESCE((SELECT MAX(MAX(joined_at, COALESCE(left_at, joined_at))) FROM attendance WHERE session_id = s.id), 0),
    COALESCE((SELECT MAX(at) FROM audit_log WHERE session_id = s.id), 0),
    COALESCE((SELECT MAX(MAX(posted_at, COALESCE(deleted_at, posted_at))) FROM chat_messages WHERE session_id = s.id), 0),
    COALESCE((SELECT MAX(MAX(uploaded_at, COALESCE(removed_at, uploaded_at))) FROM documents WHERE session_id = s.id), 0))
FROM conference_sessions s
WHERE s.ended_at IS NULL
  AND (s.node_id IS NULL OR s.node_id = ?1
       OR s.node_id NOT IN (SELECT id FROM server_nodes WHERE heartbeat_at >= ?2))";

impl SqliteStore {
    pub(super) async fn node_alive_sqlite(&self, node: Uuid, at: Millis) -> StoreResult<()> {
        self.call(move |c| {
            c.execute(
                "INSERT INTO server_nodes (id, heartbeat_at) VALUES (?1, ?2) \
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                params![node.to_string(), at],
            )
            .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    pub(super) async fn node_stopped_sqlite(&self, node: Uuid) -> StoreResult<()> {
        self.call(move |c| {
            c.execute("DELETE FROM server_nodes WHERE id = ?1", [node.to_string()])
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    pub(super) async fn nodes_alive_since_sqlite(&self, since: Millis) -> StoreResult<u64> {
        self.call(move |c| {
            c.query_row(
                "SELECT count(*) FROM server_nodes WHERE heartbeat_at >= ?1",
                [since],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(map_err)
        })
        .await
    }

    pub(super) async fn close_abandoned_sqlite(
        &self,
        own: Option<Uuid>,
        stale_before: Millis,
    ) -> StoreResult<Vec<Uuid>> {
        self.call(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let abandoned: Vec<(Uuid, Millis)> = {
                let mut q = tx.prepare(ABANDONED).map_err(map_err)?;
                let rows = q
                    .query_map(params![own.map(|o| o.to_string()), stale_before], |r| {
                        Ok((uuid_col(r, 0)?, r.get(1)?))
                    })
                    .map_err(map_err)?
                    .collect::<Result<_, _>>()
                    .map_err(map_err)?;
                rows
            };
            for (session, last) in &abandoned {
                let seats: Vec<Uuid> = {
                    let mut q = tx
                        .prepare(
                            "SELECT participant_id FROM attendance WHERE session_id = ?1 AND left_at IS NULL",
                        )
                        .map_err(map_err)?;
                    let rows = q
                        .query_map(params![session.to_string()], |r| uuid_col(r, 0))
                        .map_err(map_err)?
                        .collect::<Result<_, _>>()
                        .map_err(map_err)?;
                    rows
                };
                let conference = tx
                    .query_row(
                        "SELECT conference_id FROM conference_sessions WHERE id = ?1",
                        params![session.to_string()],
                        |r| uuid_col(r, 0),
                    )
                    .map_err(map_err)?;
                tx.execute(
                    "UPDATE attendance SET left_at = ?2, left_reason = 'server_stopped' \
                     WHERE session_id = ?1 AND left_at IS NULL",
                    params![session.to_string(), last],
                )
                .map_err(map_err)?;
                // Webhooks hear of it as of a room that closed, in this same
                // transaction.
                for r in crate::webhooks::events::abandoned(conference, *session, &seats, *last) {
                    let follow = super::sqlite_history::deliveries(&r);
                    for (sql, values) in
                        std::iter::once(super::sqlite_history::statement(r)).chain(follow)
                    {
                        tx.execute(sql, rusqlite::params_from_iter(values))
                            .map_err(map_err)?;
                    }
                }
                tx.execute(
                    "UPDATE conference_sessions SET ended_at = ?2 WHERE id = ?1",
                    params![session.to_string(), last],
                )
                .map_err(map_err)?;
            }
            tx.execute(
                "DELETE FROM server_nodes WHERE heartbeat_at < ?1",
                params![stale_before],
            )
            .map_err(map_err)?;
            tx.commit().map_err(map_err)?;
            Ok(abandoned.into_iter().map(|(s, _)| s).collect())
        })
        .await
    }
}
