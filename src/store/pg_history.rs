//! The PostgreSQL half of room history: writing the persister's records in
//! one transaction, and reading sessions, attendance, audit, chat and the
//! durable room state back.

use chrono::{DateTime, Utc};
use conclave_actors::room_state::Millis;
use conclave_actors::ConferenceId;
use deadpool_postgres::GenericClient;

use super::audit_chain::{deletion_links, ChainKey};
use super::pg_audit_chain;
use super::postgres::{map_err, PgStore};
use super::records::*;
use super::StoreResult;

fn t(ms: Millis) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// A page of a conference's sessions (`Page`), oldest first: what follows
/// the columns of `SELECT`, with `$1` the conference, `$2` the session the
/// page starts after and `$3` its size.
/// The first condition bounds the index scan on (conference, start); the
/// second breaks ties between sessions that started in the same
/// millisecond.
const SESSIONS_PAGE: &str = "FROM conference_sessions WHERE conference_id = $1 \
    AND started_at >= COALESCE((SELECT started_at FROM conference_sessions WHERE id = $2), '-infinity') \
    AND ($2::uuid IS NULL OR (started_at, id) > \
        (SELECT started_at, id FROM conference_sessions WHERE id = $2)) \
    ORDER BY started_at, id LIMIT $3";

fn ms(t: DateTime<Utc>) -> Millis {
    t.timestamp_millis()
}

pub(super) type Params = Vec<Box<dyn tokio_postgres::types::ToSql + Sync + Send>>;

/// The statement and values that write one record.
pub(super) fn statement(r: Record) -> (&'static str, Params) {
    match r {
        Record::SessionStarted { session, conference, node, data_key, at } => (
            "INSERT INTO conference_sessions (id, conference_id, started_at, node_id, data_key) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            vec![Box::new(session), Box::new(conference), Box::new(t(at)), Box::new(node), Box::new(data_key)],
        ),
        Record::SessionEnded { session, at } => (
            "UPDATE conference_sessions SET ended_at = $2 WHERE id = $1",
            vec![Box::new(session), Box::new(t(at))],
        ),
        Record::Joined { participant, session, name, endpoint, phone_sealed, role, at } => (
            "INSERT INTO attendance (participant_id, session_id, name, endpoint, phone_sealed, role, joined_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            vec![Box::new(participant), Box::new(session), Box::new(name), Box::new(endpoint), Box::new(phone_sealed), Box::new(role), Box::new(t(at))],
        ),
        Record::Left { participant, reason, at } => (
            "UPDATE attendance SET left_at = $2, left_reason = $3 WHERE participant_id = $1 AND left_at IS NULL",
            vec![Box::new(participant), Box::new(t(at)), Box::new(reason)],
        ),
        Record::RoleChanged { participant, role } => (
            "UPDATE attendance SET role = $2 WHERE participant_id = $1",
            vec![Box::new(participant), Box::new(role)],
        ),
        Record::Renamed { participant, name } => (
            "UPDATE attendance SET name = $2 WHERE participant_id = $1",
            vec![Box::new(participant), Box::new(name)],
        ),
        Record::Audit { id, conference, session, actor, action, target, detail, at } => (
            "INSERT INTO audit_log (id, conference_id, session_id, actor, action, target, detail, at, chain_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, (SELECT a.organisation_id FROM conferences c \
                     JOIN accounts a ON a.id = c.account_id WHERE c.id = $2)) ON CONFLICT DO NOTHING",
            vec![Box::new(id), Box::new(conference), Box::new(session), Box::new(actor), Box::new(action), Box::new(target), Box::new(detail), Box::new(t(at))],
        ),
        Record::ChatPosted { id, conference, session, sender, sender_name, text, at } => (
            "INSERT INTO chat_messages (id, conference_id, session_id, sender, sender_name, text, posted_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            vec![Box::new(id), Box::new(conference), Box::new(session), Box::new(sender), Box::new(sender_name), Box::new(text), Box::new(t(at))],
        ),
        Record::ChatDeleted { id, at } => (
            "UPDATE chat_messages SET text = NULL, deleted_at = COALESCE(deleted_at, $2) WHERE id = $1",
            vec![Box::new(id), Box::new(t(at))],
        ),
        Record::DocumentAdded { id, conference, session, name, content_type, size, by, at } => (
            "INSERT INTO documents (id, conference_id, session_id, name, content_type, size, uploaded_by, uploaded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            vec![Box::new(id), Box::new(conference), Box::new(session), Box::new(name), Box::new(content_type), Box::new(size), Box::new(by), Box::new(t(at))],
        ),
        Record::DocumentRemoved { id, at, erase_name } => (
            "UPDATE documents SET removed_at = COALESCE(removed_at, $2), \
             name = CASE WHEN $3 THEN '' ELSE name END WHERE id = $1",
            vec![Box::new(id), Box::new(t(at)), Box::new(erase_name)],
        ),
        Record::Locked { conference, locked, at } => (
            "INSERT INTO room_state (conference_id, locked, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (conference_id) DO UPDATE SET locked = EXCLUDED.locked, updated_at = EXCLUDED.updated_at",
            vec![Box::new(conference), Box::new(locked), Box::new(t(at))],
        ),
        Record::Permission { conference, permission, audience, at } => (
            match permission {
                "chat" => "INSERT INTO room_state (conference_id, chat, updated_at) VALUES ($1, $2, $3) \
                           ON CONFLICT (conference_id) DO UPDATE SET chat = EXCLUDED.chat, updated_at = EXCLUDED.updated_at",
                _ => "INSERT INTO room_state (conference_id, share, updated_at) VALUES ($1, $2, $3) \
                      ON CONFLICT (conference_id) DO UPDATE SET share = EXCLUDED.share, updated_at = EXCLUDED.updated_at",
            },
            vec![Box::new(conference), Box::new(audience), Box::new(t(at))],
        ),
        Record::WaitingRoom { conference, setting, at } => (
            "INSERT INTO room_state (conference_id, waiting_room, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (conference_id) DO UPDATE SET waiting_room = EXCLUDED.waiting_room, updated_at = EXCLUDED.updated_at",
            vec![Box::new(conference), Box::new(setting), Box::new(t(at))],
        ),
        Record::BlockAdded { id, conference, name, identities, by, at } => (
            "INSERT INTO room_blocks (id, conference_id, name, identities, blocked_by, blocked_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            vec![Box::new(id), Box::new(conference), Box::new(name), Box::new(identities), Box::new(by), Box::new(t(at))],
        ),
        Record::ContactSaved { conference, number_index, number_sealed, name, at } => (
            "INSERT INTO contacts (account_id, number_index, number_sealed, name, updated_at) \
             SELECT account_id, $2, $3, $4, $5 FROM conferences WHERE id = $1 \
             ON CONFLICT (account_id, number_index) DO UPDATE SET \
             number_sealed = EXCLUDED.number_sealed, name = EXCLUDED.name, updated_at = EXCLUDED.updated_at",
            vec![Box::new(conference), Box::new(number_index), Box::new(number_sealed), Box::new(name), Box::new(t(at))],
        ),
        // The event row only when an endpoint wants it, then a
        // delivery for each such endpoint; a batch written twice
        // finds the event there and adds nothing.
        Record::Webhook { id, conference, kind, body, at } => (
            "WITH wanted AS (SELECT e.id FROM webhook_endpoints e JOIN conferences c ON c.account_id = e.account_id \
             WHERE c.id = $2::UUID AND e.deleted_at IS NULL AND position($6::TEXT in e.events) > 0), \
             ev AS (INSERT INTO webhook_events (id, conference_id, type, body, created_at) \
             SELECT $1::UUID, $2::UUID, $3::TEXT, $4::TEXT, $5::BIGINT WHERE EXISTS (SELECT 1 FROM wanted) ON CONFLICT (id) DO NOTHING RETURNING seq) \
             INSERT INTO webhook_deliveries (endpoint_id, event_seq, conference_id, next_attempt_at) \
             SELECT wanted.id, ev.seq, $2::UUID, $5::BIGINT FROM wanted, ev",
            vec![Box::new(id), Box::new(conference), Box::new(kind), Box::new(body), Box::new(at), Box::new(format!(",{kind},"))],
        ),
        Record::BlockLifted { id, at } => (
            "UPDATE room_blocks SET lifted_at = COALESCE(lifted_at, $2) WHERE id = $1",
            vec![Box::new(id), Box::new(t(at))],
        ),
        // Only a link (`statements`), never reached here.
        Record::Chained { .. } => ("SELECT 1", vec![]),
    }
}

/// Every statement of a batch in order: the chains it appends to locked
/// Writes `records` (with their links) one statement at a time in `tx`.
pub(super) async fn write_in(
    tx: &tokio_postgres::Transaction<'_>,
    records: &[Record],
    key: &ChainKey,
) -> StoreResult<()> {
    for (sql, params) in statements(records, key) {
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        tx.execute(sql, &refs).await.map_err(map_err)?;
    }
    Ok(())
}

/// first, then each record's statement followed by its chain link.
pub(super) fn statements(records: &[Record], key: &ChainKey) -> Vec<(&'static str, Params)> {
    let mut out = Vec::with_capacity(records.len() + 1);
    out.extend(pg_audit_chain::lock(records));
    for r in records {
        if !matches!(r, Record::Chained { .. }) {
            out.push(statement(r.clone()));
        }
        out.extend(pg_audit_chain::link(r, key));
    }
    out
}

impl PgStore {
    pub(super) async fn write_records_pg(&self, records: &[Record]) -> StoreResult<()> {
        let client = self.client().await?;
        let mut prepared = Vec::with_capacity(records.len());
        for (sql, params) in statements(records, &self.chain_key()) {
            // Prepared once per connection, then reused by every batch.
            let statement = client.prepare_cached(sql).await.map_err(map_err)?;
            prepared.push((statement, params));
        }
        // Pipelined: BEGIN, every statement and COMMIT are sent before the
        // first answer is awaited, in order, so a batch costs one round trip
        // to the database, not one per row. A failing statement aborts the
        // transaction, its error is the first to come back, and the COMMIT
        // that follows it rolls the transaction back: nothing of the batch
        // is kept, and the connection is clean for the next one.
        let begin = client.simple_query("BEGIN");
        let executions = prepared.iter().map(|(statement, params)| {
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
                .collect();
            let client = &client;
            async move { client.execute(statement, &refs).await }
        });
        let commit = client.simple_query("COMMIT");
        let (begun, executed, committed) = futures_util::join!(
            begin,
            futures_util::future::try_join_all(executions),
            commit
        );
        begun.map_err(map_err)?;
        executed.map_err(map_err)?;
        // A COMMIT after an error answers ROLLBACK, not an error: the
        // statements' own error above is what says the batch failed.
        committed.map_err(map_err)?;
        Ok(())
    }

    pub(super) async fn delete_history_pg(
        &self,
        conference: ConferenceId,
        before: Millis,
        at: Millis,
        told: &[Record],
    ) -> StoreResult<DeletedHistory> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let ids = |rows: Vec<tokio_postgres::Row>| -> StoreResult<Vec<uuid::Uuid>> {
            rows.iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()
                .map_err(map_err)
        };
        let sessions = ids(tx
            .query(
                "SELECT id FROM conference_sessions \
                 WHERE conference_id = $1 AND started_at < $2 FOR UPDATE",
                &[&conference.0, &t(before)],
            )
            .await
            .map_err(map_err)?)?;
        let documents = ids(tx
            .query(
                "DELETE FROM documents WHERE session_id = ANY($1) RETURNING id",
                &[&sessions],
            )
            .await
            .map_err(map_err)?)?;
        let counted = tx
            .query_one(
                "SELECT (SELECT count(*) FROM attendance WHERE session_id = ANY($1)), \
                        (SELECT count(*) FROM chat_messages WHERE session_id = ANY($1)), \
                        (SELECT a.organisation_id FROM conferences c JOIN accounts a ON a.id = c.account_id \
                         WHERE c.id = $2)",
                &[&sessions, &conference.0],
            )
            .await
            .map_err(map_err)?;
        let chains = pg_audit_chain::rows_by_chain(&tx, "session_id", &sessions).await?;
        // Attendance, audit log and chat go with their session (ON DELETE
        // CASCADE), in this same transaction.
        tx.execute(
            "DELETE FROM conference_sessions WHERE id = ANY($1)",
            &[&sessions],
        )
        .await
        .map_err(map_err)?;
        let mut told = told.to_vec();
        let organisation: Option<uuid::Uuid> = counted.try_get(2).map_err(map_err)?;
        if let (Some(organisation), false) = (organisation, sessions.is_empty()) {
            told.extend(deletion_links(
                organisation,
                &chains,
                sessions.len(),
                counted.try_get(0).map_err(map_err)?,
                counted.try_get(1).map_err(map_err)?,
                documents.len(),
                at,
            ));
        }
        write_in(&tx, &told, &self.chain_key()).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(DeletedHistory {
            sessions,
            documents,
        })
    }

    pub(super) async fn room_state_pg(
        &self,
        conference: ConferenceId,
    ) -> StoreResult<RoomStateRow> {
        let client = self.client().await?;
        let mut state = match client
            .query_opt(
                "SELECT COALESCE(s.locked, FALSE), COALESCE(s.chat, 'everyone'), COALESCE(s.share, 'everyone'), \
                 COALESCE(s.waiting_room, a.waiting_room) \
                 FROM conferences c JOIN accounts a ON a.id = c.account_id \
                 LEFT JOIN room_state s ON s.conference_id = c.id WHERE c.id = $1",
                &[&conference.0],
            )
            .await
            .map_err(map_err)?
        {
            Some(r) => RoomStateRow {
                locked: r.try_get(0).map_err(map_err)?,
                chat: r.try_get(1).map_err(map_err)?,
                share: r.try_get(2).map_err(map_err)?,
                waiting_room: r.try_get(3).map_err(map_err)?,
                blocks: Vec::new(),
            },
            None => RoomStateRow::fresh(),
        };
        for r in client
            .query(
                "SELECT id, name, identities, blocked_by, blocked_at FROM room_blocks \
                 WHERE conference_id = $1 AND lifted_at IS NULL ORDER BY blocked_at, id",
                &[&conference.0],
            )
            .await
            .map_err(map_err)?
        {
            state.blocks.push(BlockRow {
                id: r.try_get(0).map_err(map_err)?,
                name: r.try_get(1).map_err(map_err)?,
                identities: r.try_get(2).map_err(map_err)?,
                by: r.try_get(3).map_err(map_err)?,
                at: ms(r.try_get(4).map_err(map_err)?),
            });
        }
        Ok(state)
    }

    pub(super) async fn conference_sessions_pg(
        &self,
        conference: ConferenceId,
        page: Page,
    ) -> StoreResult<Vec<SessionRow>> {
        let sql = format!("SELECT id, started_at, ended_at {SESSIONS_PAGE}");
        let rows = self.page_rows(&sql, conference, page).await?;
        rows.iter()
            .map(|r| {
                Ok(SessionRow {
                    id: r.try_get(0).map_err(map_err)?,
                    started_at: ms(r.try_get(1).map_err(map_err)?),
                    ended_at: r
                        .try_get::<_, Option<DateTime<Utc>>>(2)
                        .map_err(map_err)?
                        .map(ms),
                })
            })
            .collect()
    }

    pub(super) async fn attendance_pg(
        &self,
        conference: ConferenceId,
        page: Page,
    ) -> StoreResult<Vec<AttendanceRow>> {
        let sql = format!(
            "SELECT a.participant_id, a.session_id, a.name, a.endpoint, a.phone_sealed, a.role, \
                    a.joined_at, a.left_at, a.left_reason \
             FROM attendance a WHERE a.session_id IN (SELECT id {SESSIONS_PAGE}) \
             ORDER BY a.joined_at, a.participant_id"
        );
        let rows = self.page_rows(&sql, conference, page).await?;
        rows.iter()
            .map(|r| {
                Ok(AttendanceRow {
                    participant: r.try_get(0).map_err(map_err)?,
                    session: r.try_get(1).map_err(map_err)?,
                    name: r.try_get(2).map_err(map_err)?,
                    endpoint: r.try_get(3).map_err(map_err)?,
                    phone_sealed: r.try_get(4).map_err(map_err)?,
                    role: r.try_get(5).map_err(map_err)?,
                    joined_at: ms(r.try_get(6).map_err(map_err)?),
                    left_at: r
                        .try_get::<_, Option<DateTime<Utc>>>(7)
                        .map_err(map_err)?
                        .map(ms),
                    left_reason: r.try_get(8).map_err(map_err)?,
                })
            })
            .collect()
    }

    /// Runs a paged history read: `$1` the conference, `$2` the id the
    /// page starts after, `$3` its size (`LIMIT NULL` is no limit).
    async fn page_rows(
        &self,
        sql: &str,
        conference: ConferenceId,
        page: Page,
    ) -> StoreResult<Vec<tokio_postgres::Row>> {
        let limit = page.limit.map(i64::from);
        self.client()
            .await?
            .query(sql, &[&conference.0, &page.after, &limit])
            .await
            .map_err(map_err)
    }

    pub(super) async fn audit_log_pg(
        &self,
        conference: ConferenceId,
        page: Page,
    ) -> StoreResult<Vec<AuditRow>> {
        let rows = self
            .page_rows(
                "SELECT id, session_id, actor, action, target, detail, at FROM audit_log \
                 WHERE conference_id = $1 \
                   AND ($2::uuid IS NULL OR n > (SELECT n FROM audit_log WHERE id = $2)) \
                 ORDER BY n LIMIT $3",
                conference,
                page,
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditRow {
                    id: r.try_get(0).map_err(map_err)?,
                    session: r.try_get(1).map_err(map_err)?,
                    actor: r.try_get(2).map_err(map_err)?,
                    action: r.try_get(3).map_err(map_err)?,
                    target: r.try_get(4).map_err(map_err)?,
                    detail: r.try_get(5).map_err(map_err)?,
                    at: ms(r.try_get(6).map_err(map_err)?),
                })
            })
            .collect()
    }

    pub(super) async fn contact_name_pg(
        &self,
        conference: ConferenceId,
        number_index: &str,
    ) -> StoreResult<Option<String>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT k.name FROM contacts k JOIN conferences c ON c.account_id = k.account_id \
                 WHERE c.id = $1 AND k.number_index = $2",
                &[&conference.0, &number_index],
            )
            .await
            .map_err(map_err)?;
        row.map(|r| r.try_get(0).map_err(map_err)).transpose()
    }

    pub(super) async fn chat_log_pg(
        &self,
        conference: ConferenceId,
        page: Page,
    ) -> StoreResult<Vec<ChatRow>> {
        let rows = self
            .page_rows(
                "SELECT id, session_id, sender, sender_name, text, posted_at, deleted_at \
                 FROM chat_messages WHERE conference_id = $1 \
                   AND ($2::uuid IS NULL OR n > (SELECT n FROM chat_messages WHERE id = $2)) \
                 ORDER BY n LIMIT $3",
                conference,
                page,
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ChatRow {
                    id: r.try_get(0).map_err(map_err)?,
                    session: r.try_get(1).map_err(map_err)?,
                    sender: r.try_get(2).map_err(map_err)?,
                    sender_name: r.try_get(3).map_err(map_err)?,
                    text: r.try_get(4).map_err(map_err)?,
                    posted_at: ms(r.try_get(5).map_err(map_err)?),
                    deleted_at: r
                        .try_get::<_, Option<DateTime<Utc>>>(6)
                        .map_err(map_err)?
                        .map(ms),
                })
            })
            .collect()
    }

    pub(super) async fn documents_pg(
        &self,
        conference: ConferenceId,
        page: Page,
    ) -> StoreResult<Vec<DocumentRow>> {
        let rows = self
            .page_rows(
                "SELECT id, session_id, name, content_type, size, uploaded_by, uploaded_at, \
                        removed_at FROM documents WHERE conference_id = $1 \
                   AND ($2::uuid IS NULL OR (uploaded_at, id) > \
                       (SELECT uploaded_at, id FROM documents WHERE id = $2)) \
                 ORDER BY uploaded_at, id LIMIT $3",
                conference,
                page,
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DocumentRow {
                    id: r.try_get(0).map_err(map_err)?,
                    session: r.try_get(1).map_err(map_err)?,
                    name: r.try_get(2).map_err(map_err)?,
                    content_type: r.try_get(3).map_err(map_err)?,
                    size: r.try_get(4).map_err(map_err)?,
                    uploaded_by: r.try_get(5).map_err(map_err)?,
                    uploaded_at: ms(r.try_get(6).map_err(map_err)?),
                    removed_at: r
                        .try_get::<_, Option<DateTime<Utc>>>(7)
                        .map_err(map_err)?
                        .map(ms),
                })
            })
            .collect()
    }
}
