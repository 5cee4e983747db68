//! The SQLite half of the account's reports: its meetings over all its
//! conferences, each with its seats' totals, in one query.

use conclave_actors::AccountId;
use rusqlite::params;

use super::records::*;
use super::sqlite::{map_err, uuid_col, SqliteStore};
use super::StoreResult;

impl SqliteStore {
    pub(super) async fn account_sessions_sqlite(
        &self,
        account: AccountId,
        q: SessionQuery,
    ) -> StoreResult<Vec<AccountSessionRow>> {
        self.call(move |c| {
            let mut statement = c
                .prepare_cached(
                    "SELECT s.id, s.conference_id, c.title, c.kind, s.started_at, s.ended_at, \
                     COUNT(a.participant_id), COALESCE(SUM(a.endpoint = 'phone'), 0), \
                     COALESCE(SUM(MAX(COALESCE(a.left_at, s.ended_at, ?6) - a.joined_at, 0) / 1000), 0), c.account_id \
                     FROM conference_sessions s JOIN conferences c ON c.id = s.conference_id \
                     LEFT JOIN attendance a ON a.session_id = s.id \
                     WHERE c.account_id IN (SELECT id FROM accounts WHERE id = ?1 OR (?8 AND organisation_id = \
                           (SELECT organisation_id FROM accounts WHERE id = ?1))) \
                     AND s.started_at >= ?2 AND s.started_at < ?3 \
                     AND (?4 IS NULL OR s.started_at < ?4 OR (s.started_at = ?4 AND s.id < ?5)) \
                     GROUP BY s.id ORDER BY s.started_at DESC, s.id DESC LIMIT ?7",
                )
                .map_err(map_err)?;
            let rows = statement
                .query_map(
                    params![
                        account.to_string(),
                        q.from,
                        q.to,
                        q.before.map(|(at, _)| at),
                        q.before.map(|(_, id)| id.to_string()),
                        q.now,
                        i64::from(q.limit),
                        q.organisation,
                    ],
                    |r| {
                        Ok(AccountSessionRow {
                            id: uuid_col(r, 0)?,
                            conference: uuid_col(r, 1)?,
                            owner: uuid_col(r, 9)?,
                            title: r.get(2)?,
                            kind: r.get(3)?,
                            started_at: r.get(4)?,
                            ended_at: r.get(5)?,
                            seats: r.get(6)?,
                            phone_seats: r.get(7)?,
                            seat_seconds: r.get(8)?,
                        })
                    },
                )
                .map_err(map_err)?;
            rows.collect::<Result<_, _>>().map_err(map_err)
        })
        .await
    }
}
