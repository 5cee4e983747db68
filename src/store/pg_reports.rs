//! The PostgreSQL half of the account's reports: its meetings over all its
//! conferences, each with its seats' totals, in one query.

use chrono::{DateTime, Utc};
use conclave_actors::room_state::Millis;
use conclave_actors::AccountId;
use deadpool_postgres::GenericClient;

use super::postgres::{map_err, PgStore};
use super::records::*;
use super::StoreResult;

fn t(ms: Millis) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl PgStore {
    pub(super) async fn account_sessions_pg(
        &self,
        account: AccountId,
        q: SessionQuery,
    ) -> StoreResult<Vec<AccountSessionRow>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT s.id, s.conference_id, c.title, c.kind, s.started_at, s.ended_at, \
                 COUNT(a.participant_id), COUNT(a.participant_id) FILTER (WHERE a.endpoint = 'phone'), \
                 COALESCE(SUM(GREATEST(FLOOR(EXTRACT(EPOCH FROM \
                   COALESCE(a.left_at, s.ended_at, $6) - a.joined_at)), 0)), 0)::BIGINT, c.account_id \
                 FROM conference_sessions s JOIN conferences c ON c.id = s.conference_id \
                 LEFT JOIN attendance a ON a.session_id = s.id \
                 WHERE c.account_id IN (SELECT id FROM accounts WHERE id = $1 OR ($8 AND organisation_id = \
                       (SELECT organisation_id FROM accounts WHERE id = $1))) \
                 AND s.started_at >= $2 AND s.started_at < $3 \
                 AND ($4::TIMESTAMPTZ IS NULL OR (s.started_at, s.id) < ($4, $5::UUID)) \
                 GROUP BY s.id, c.title, c.kind, c.account_id ORDER BY s.started_at DESC, s.id DESC LIMIT $7",
                &[
                    &account.0,
                    &t(q.from),
                    &t(q.to),
                    &q.before.map(|(at, _)| t(at)),
                    &q.before.map(|(_, id)| id),
                    &t(q.now),
                    &i64::from(q.limit),
                    &q.organisation,
                ],
            )
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(AccountSessionRow {
                    id: r.try_get(0).map_err(map_err)?,
                    conference: r.try_get(1).map_err(map_err)?,
                    owner: r.try_get(9).map_err(map_err)?,
                    title: r.try_get(2).map_err(map_err)?,
                    kind: r.try_get(3).map_err(map_err)?,
                    started_at: r
                        .try_get::<_, DateTime<Utc>>(4)
                        .map_err(map_err)?
                        .timestamp_millis(),
                    ended_at: r
                        .try_get::<_, Option<DateTime<Utc>>>(5)
                        .map_err(map_err)?
                        .map(|t| t.timestamp_millis()),
                    seats: r.try_get(6).map_err(map_err)?,
                    phone_seats: r.try_get(7).map_err(map_err)?,
                    seat_seconds: r.try_get(8).map_err(map_err)?,
                })
            })
            .collect()
    }
}
