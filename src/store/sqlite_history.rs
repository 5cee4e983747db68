//! The SQLite half of room history: the same records and queries as
//! `pg_history.rs`, with UUIDs as text and times as milliseconds.

use conclave_actors::ConferenceId;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, OptionalExtension, Row, TransactionBehavior};
use uuid::Uuid;

use super::audit_chain::deletion_links;
use super::records::*;
use super::sqlite::{map_err, uuid_col, SqliteStore};
use super::StoreResult;

/// A page of a conference's sessions (`Page`), oldest first: what follows
/// the columns of `SELECT`, with `?1` the conference, `?2` the session the
/// page starts after and `?3` its size. The first condition bounds the
/// index scan on (conference, start); the second breaks ties.
macro_rules! sessions_page {
    () => {
        "FROM conference_sessions WHERE conference_id = ?1 \
         AND started_at >= COALESCE((SELECT started_at FROM conference_sessions WHERE id = ?2), -9223372036854775808) \
         AND (?2 IS NULL OR (started_at, id) > \
             (SELECT started_at, id FROM conference_sessions WHERE id = ?2)) \
         ORDER BY started_at, id LIMIT ?3"
    };
}

fn id(u: Uuid) -> Value {
    Value::Text(u.to_string())
}

fn text(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

fn opt_text(s: Option<String>) -> Value {
    s.map_or(Value::Null, Value::Text)
}

/// The statement and values that write one record.
pub(super) fn statement(r: Record) -> (&'static str, Vec<Value>) {
    use Value::Integer as I;
    match r {
        Record::SessionStarted { session, conference, node, data_key, at } => (
            "INSERT INTO conference_sessions (id, conference_id, started_at, node_id, data_key) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            vec![id(session), id(conference), I(at), id(node), data_key.map_or(Value::Null, Value::Blob)],
        ),
        Record::SessionEnded { session, at } => (
            "UPDATE conference_sessions SET ended_at = ?2 WHERE id = ?1",
            vec![id(session), I(at)],
        ),
        Record::Joined { participant, session, name, endpoint, phone_sealed, role, at } => (
            "INSERT INTO attendance (participant_id, session_id, name, endpoint, phone_sealed, role, joined_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
            vec![id(participant), id(session), text(name), text(endpoint), phone_sealed.map_or(Value::Null, Value::Blob), text(role), I(at)],
        ),
        Record::Left { participant, reason, at } => (
            "UPDATE attendance SET left_at = ?2, left_reason = ?3 WHERE participant_id = ?1 AND left_at IS NULL",
            vec![id(participant), I(at), text(reason)],
        ),
        Record::RoleChanged { participant, role } => (
            "UPDATE attendance SET role = ?2 WHERE participant_id = ?1",
            vec![id(participant), text(role)],
        ),
        Record::Renamed { participant, name } => (
            "UPDATE attendance SET name = ?2 WHERE participant_id = ?1",
            vec![id(participant), text(name)],
        ),
        Record::Audit { id: audit, conference, session, actor, action, target, detail, at } => (
            "INSERT INTO audit_log (id, conference_id, session_id, actor, action, target, detail, at, chain_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, (SELECT a.organisation_id FROM conferences c \
                     JOIN accounts a ON a.id = c.account_id WHERE c.id = ?2)) ON CONFLICT DO NOTHING",
            vec![id(audit), id(conference), id(session), id(actor), text(action), opt_text(target), opt_text(detail), I(at)],
        ),
        Record::ChatPosted { id: message, conference, session, sender, sender_name, text: body, at } => (
            "INSERT INTO chat_messages (id, conference_id, session_id, sender, sender_name, text, posted_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
            vec![id(message), id(conference), id(session), id(sender), text(sender_name), text(body), I(at)],
        ),
        Record::ChatDeleted { id: message, at } => (
            "UPDATE chat_messages SET text = NULL, deleted_at = COALESCE(deleted_at, ?2) WHERE id = ?1",
            vec![id(message), I(at)],
        ),
        Record::DocumentAdded { id: document, conference, session, name, content_type, size, by, at } => (
            "INSERT INTO documents (id, conference_id, session_id, name, content_type, size, uploaded_by, uploaded_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
            vec![id(document), id(conference), id(session), text(name), text(content_type), I(size), id(by), I(at)],
        ),
        Record::DocumentRemoved { id: document, at, erase_name } => (
            "UPDATE documents SET removed_at = COALESCE(removed_at, ?2), \
             name = CASE WHEN ?3 THEN '' ELSE name END WHERE id = ?1",
            vec![id(document), I(at), I(i64::from(erase_name))],
        ),
        Record::Locked { conference, locked, at } => (
            "INSERT INTO room_state (conference_id, locked, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (conference_id) DO UPDATE SET locked = excluded.locked, updated_at = excluded.updated_at",
            vec![id(conference), I(i64::from(locked)), I(at)],
        ),
        Record::WaitingRoom { conference, setting, at } => (
            "INSERT INTO room_state (conference_id, waiting_room, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (conference_id) DO UPDATE SET waiting_room = excluded.waiting_room, updated_at = excluded.updated_at",
            vec![id(conference), text(setting), I(at)],
        ),
        Record::Permission { conference, permission, audience, at } => (
            match permission {
                "chat" => "INSERT INTO room_state (conference_id, chat, updated_at) VALUES (?1, ?2, ?3) \
                           ON CONFLICT (conference_id) DO UPDATE SET chat = excluded.chat, updated_at = excluded.updated_at",
                _ => "INSERT INTO room_state (conference_id, share, updated_at) VALUES (?1, ?2, ?3) \
                      ON CONFLICT (conference_id) DO UPDATE SET share = excluded.share, updated_at = excluded.updated_at",
            },
            vec![id(conference), text(audience), I(at)],
        ),
        Record::BlockAdded { id: block, conference, name, identities, by, at } => (
            "INSERT INTO room_blocks (id, conference_id, name, identities, blocked_by, blocked_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
            vec![id(block), id(conference), text(name), text(identities), id(by), I(at)],
        ),
        Record::ContactSaved { conference, number_index, number_sealed, name, at } => (
            "INSERT INTO contacts (account_id, number_index, number_sealed, name, updated_at) \
             SELECT account_id, ?2, ?3, ?4, ?5 FROM conferences WHERE id = ?1 \
             ON CONFLICT (account_id, number_index) DO UPDATE SET \
             number_sealed = excluded.number_sealed, name = excluded.name, updated_at = excluded.updated_at",
            vec![id(conference), text(number_index), Value::Blob(number_sealed), text(name), I(at)],
        ),
        Record::BlockLifted { id: block, at } => (
            "UPDATE room_blocks SET lifted_at = COALESCE(lifted_at, ?2) WHERE id = ?1",
            vec![id(block), I(at)],
        ),
        // The event row only when an endpoint wants it; its deliveries
        // follow (see `deliveries`).
        // Only a link (`write_one`), never reached here.
        Record::Chained { .. } => ("SELECT 1", vec![]),
        Record::Webhook { id: event, conference, kind, body, at } => (
            "INSERT INTO webhook_events (id, conference_id, type, body, created_at) \
             SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM webhook_endpoints e JOIN conferences c ON c.account_id = e.account_id \
             WHERE c.id = ?2 AND e.deleted_at IS NULL AND instr(e.events, ?6) > 0) ON CONFLICT (id) DO NOTHING",
            vec![id(event), id(conference), text(kind), text(body), I(at), text(format!(",{kind},"))],
        ),
    }
}

/// Writes one record: its statement, the deliveries of a webhook event, and
/// the audit chain's link of a moderator action or of a `Chained` record.
pub(super) fn write_one(
    tx: &rusqlite::Transaction<'_>,
    r: &Record,
    key: &super::audit_chain::ChainKey,
) -> StoreResult<()> {
    if !matches!(r, Record::Chained { .. }) {
        let follow = deliveries(r);
        for (sql, values) in std::iter::once(statement(r.clone())).chain(follow) {
            tx.prepare_cached(sql)
                .map_err(map_err)?
                .execute(params_from_iter(values))
                .map_err(map_err)?;
        }
    }
    super::sqlite_audit_chain::append(tx, r, key)
}

/// A webhook event's deliveries, one per endpoint that wants it; a batch
/// written twice finds them there and adds nothing.
pub(super) fn deliveries(r: &Record) -> Option<(&'static str, Vec<Value>)> {
    let Record::Webhook {
        id: event, kind, ..
    } = r
    else {
        return None;
    };
    Some((
        "INSERT INTO webhook_deliveries (endpoint_id, event_seq, conference_id, next_attempt_at) \
         SELECT e.id, ev.seq, ev.conference_id, ev.created_at FROM webhook_events ev \
         JOIN conferences c ON c.id = ev.conference_id JOIN webhook_endpoints e ON e.account_id = c.account_id \
         WHERE ev.id = ?1 AND e.deleted_at IS NULL AND instr(e.events, ?2) > 0 ON CONFLICT DO NOTHING",
        vec![id(*event), text(format!(",{kind},"))],
    ))
}

impl SqliteStore {
    pub(super) async fn write_records_sqlite(&self, records: &[Record]) -> StoreResult<()> {
        let records = records.to_vec();
        let key = self.chain_key();
        self.call(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            for r in &records {
                write_one(&tx, r, &key)?;
            }
            tx.commit().map_err(map_err)
        })
        .await
    }

    pub(super) async fn delete_history_sqlite(
        &self,
        conference: ConferenceId,
        before: conclave_actors::room_state::Millis,
        at: conclave_actors::room_state::Millis,
        told: &[Record],
    ) -> StoreResult<DeletedHistory> {
        let told = told.to_vec();
        let chain_key = self.chain_key();
        self.call(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let ids = |sql: &str, args: &[&dyn rusqlite::ToSql]| -> StoreResult<Vec<Uuid>> {
                let mut q = tx.prepare(sql).map_err(map_err)?;
                let rows = q
                    .query_map(args, |r| uuid_col(r, 0))
                    .map_err(map_err)?
                    .collect::<Result<_, _>>()
                    .map_err(map_err);
                rows
            };
            let key = conference.to_string();
            let documents = ids(
                "SELECT d.id FROM documents d JOIN conference_sessions s ON s.id = d.session_id \
                 WHERE s.conference_id = ?1 AND s.started_at < ?2",
                &[&key, &before],
            )?;
            let sessions = ids(
                "SELECT id FROM conference_sessions WHERE conference_id = ?1 AND started_at < ?2",
                &[&key, &before],
            )?;
            let mut counts = [0i64; 3];
            for (n, table) in ["attendance", "audit_log", "chat_messages"].iter().enumerate() {
                counts[n] = tx
                    .query_row(
                        &format!(
                            "SELECT count(*) FROM {table} WHERE session_id IN \
                             (SELECT id FROM conference_sessions WHERE conference_id = ?1 AND started_at < ?2)"
                        ),
                        params![key, before],
                        |r| r.get(0),
                    )
                    .map_err(map_err)?;
            }
            let chains: Vec<(Uuid, i64)> = {
                let mut q = tx
                    .prepare(
                        "SELECT chain_id, count(*) FROM audit_log WHERE chain_id IS NOT NULL \
                         AND session_id IN (SELECT id FROM conference_sessions \
                                            WHERE conference_id = ?1 AND started_at < ?2) \
                         GROUP BY chain_id",
                    )
                    .map_err(map_err)?;
                let rows = q
                    .query_map(params![key, before], |r| Ok((uuid_col(r, 0)?, r.get(1)?)))
                    .map_err(map_err)?
                    .collect::<Result<_, _>>()
                    .map_err(map_err)?;
                rows
            };
            // Attendance, audit log, chat and documents go with their
            // session (foreign keys are on, ON DELETE CASCADE).
            tx.execute(
                "DELETE FROM conference_sessions WHERE conference_id = ?1 AND started_at < ?2",
                params![key, before],
            )
            .map_err(map_err)?;
            let mut told = told;
            let chain: Option<Uuid> = tx
                .query_row(
                    "SELECT a.organisation_id FROM conferences c \
                     JOIN accounts a ON a.id = c.account_id WHERE c.id = ?1",
                    [&key],
                    |r| uuid_col(r, 0),
                )
                .optional()
                .map_err(map_err)?;
            if let (Some(organisation), false) = (chain, sessions.is_empty()) {
                told.extend(deletion_links(
                    organisation,
                    &chains,
                    sessions.len(),
                    counts[0],
                    counts[2],
                    documents.len(),
                    at,
                ));
            }
            for r in &told {
                write_one(&tx, r, &chain_key)?;
            }
            tx.commit().map_err(map_err)?;
            super::sqlite_open::scrub(conn)?;
            Ok(DeletedHistory {
                sessions,
                documents,
            })
        })
        .await
    }

    pub(super) async fn room_state_sqlite(
        &self,
        conference: ConferenceId,
    ) -> StoreResult<RoomStateRow> {
        self.call(move |c| {
            let key = conference.to_string();
            let mut state = c
                .query_row(
                    "SELECT COALESCE(s.locked, 0), COALESCE(s.chat, 'everyone'), COALESCE(s.share, 'everyone'), \
                     COALESCE(s.waiting_room, a.waiting_room) \
                     FROM conferences c JOIN accounts a ON a.id = c.account_id \
                     LEFT JOIN room_state s ON s.conference_id = c.id WHERE c.id = ?1",
                    [&key],
                    |r| {
                        Ok(RoomStateRow {
                            locked: r.get::<_, i64>(0)? != 0,
                            chat: r.get(1)?,
                            share: r.get(2)?,
                            waiting_room: r.get(3)?,
                            blocks: Vec::new(),
                        })
                    },
                )
                .optional()
                .map_err(map_err)?
                .unwrap_or_else(RoomStateRow::fresh);
            let mut q = c
                .prepare_cached(
                    "SELECT id, name, identities, blocked_by, blocked_at FROM room_blocks \
                     WHERE conference_id = ?1 AND lifted_at IS NULL ORDER BY blocked_at, id",
                )
                .map_err(map_err)?;
            state.blocks = q
                .query_map([&key], |r| {
                    Ok(BlockRow {
                        id: uuid_col(r, 0)?,
                        name: r.get(1)?,
                        identities: r.get(2)?,
                        by: uuid_col(r, 3)?,
                        at: r.get(4)?,
                    })
                })
                .map_err(map_err)?
                .collect::<Result<_, _>>()
                .map_err(map_err)?;
            Ok(state)
        })
        .await
    }

    /// Runs a paged history read (`Page`): `?1` the conference, `?2` the id
    /// the page starts after, `?3` its size (`LIMIT -1` is no limit).
    async fn page_rows<T: Send + 'static>(
        &self,
        sql: &'static str,
        conference: ConferenceId,
        page: Page,
        decode: fn(&Row) -> rusqlite::Result<T>,
    ) -> StoreResult<Vec<T>> {
        let after = page.after.map(|u| u.to_string());
        let limit = page.limit.map_or(-1, i64::from);
        self.call(move |c| {
            let mut q = c.prepare_cached(sql).map_err(map_err)?;
            let rows = q
                .query_map(params![conference.to_string(), after, limit], decode)
                .map_err(map_err)?
                .collect::<Result<_, _>>()
                .map_err(map_err)?;
            Ok(rows)
        })
        .await
    }

    pub(super) async fn conference_sessions_sqlite(
        &self,
        conference: ConferenceId,
        page: Page,
    ) -> StoreResult<Vec<SessionRow>> {
        self.page_rows(
            concat!("SELECT id, started_at, ended_at ", sessions_page!()),
            conference,
            page,
            |r| {
                Ok(SessionRow {
                    id: uuid_col(r, 0)?,
                    started_at: r.get(1)?,
                    ended_at: r.get(2)?,
                })
            },
        )
        .await
    }

    pub(super) async fn attendance_sqlite(
        &self,
        conference: ConferenceId,
        page: Page,
    ) -> StoreResult<Vec<AttendanceRow>> {
        self.page_rows(
            concat!(
                "SELECT a.participant_id, a.session_id, a.name, a.endpoint, a.phone_sealed, \
                        a.role, a.joined_at, a.left_at, a.left_reason \
                 FROM attendance a WHERE a.session_id IN (SELECT id ",
                sessions_page!(),
                ") ORDER BY a.joined_at, a.participant_id"
            ),
            conference,
            page,
            |r| {
                Ok(AttendanceRow {
                    participant: uuid_col(r, 0)?,
                    session: uuid_col(r, 1)?,
                    name: r.get(2)?,
                    endpoint: r.get(3)?,
                    phone_sealed: r.get(4)?,
                    role: r.get(5)?,
                    joined_at: r.get(6)?,
                    left_at: r.get(7)?,
                    left_reason: r.get(8)?,
                })
            },
        )
        .await
    }

    pub(super) async fn audit_log_sqlite(
        &self,
        conference: ConferenceId,
        page: Page,
    ) -> StoreResult<Vec<AuditRow>> {
        self.page_rows(
            "SELECT id, session_id, actor, action, target, detail, at FROM audit_log \
             WHERE conference_id = ?1 \
               AND (?2 IS NULL OR rowid > (SELECT rowid FROM audit_log WHERE id = ?2)) \
             ORDER BY rowid LIMIT ?3",
            conference,
            page,
            |r| {
                Ok(AuditRow {
                    id: uuid_col(r, 0)?,
                    session: uuid_col(r, 1)?,
                    actor: uuid_col(r, 2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    detail: r.get(5)?,
                    at: r.get(6)?,
                })
            },
        )
        .await
    }

    pub(super) async fn contact_name_sqlite(
        &self,
        conference: ConferenceId,
        number_index: &str,
    ) -> StoreResult<Option<String>> {
        let number_index = number_index.to_owned();
        self.call(move |c| {
            c.query_row(
                "SELECT k.name FROM contacts k JOIN conferences c ON c.account_id = k.account_id \
                 WHERE c.id = ?1 AND k.number_index = ?2",
                params![conference.to_string(), number_index],
                |r| r.get(0),
            )
            .optional()
            .map_err(map_err)
        })
        .await
    }

    pub(super) async fn chat_log_sqlite(
        &self,
        conference: ConferenceId,
        page: Page,
    ) -> StoreResult<Vec<ChatRow>> {
        self.page_rows(
            "SELECT id, session_id, sender, sender_name, text, posted_at, deleted_at \
             FROM chat_messages WHERE conference_id = ?1 \
               AND (?2 IS NULL OR rowid > (SELECT rowid FROM chat_messages WHERE id = ?2)) \
             ORDER BY rowid LIMIT ?3",
            conference,
            page,
            |r| {
                Ok(ChatRow {
                    id: uuid_col(r, 0)?,
                    session: uuid_col(r, 1)?,
                    sender: uuid_col(r, 2)?,
                    sender_name: r.get(3)?,
                    text: r.get(4)?,
                    posted_at: r.get(5)?,
                    deleted_at: r.get(6)?,
                })
            },
        )
        .await
    }

    pub(super) async fn documents_sqlite(
        &self,
        conference: ConferenceId,
        page: Page,
    ) -> StoreResult<Vec<DocumentRow>> {
        self.page_rows(
            "SELECT id, session_id, name, content_type, size, uploaded_by, uploaded_at, \
                    removed_at FROM documents WHERE conference_id = ?1 \
               AND (?2 IS NULL OR (uploaded_at, id) > \
                   (SELECT uploaded_at, id FROM documents WHERE id = ?2)) \
             ORDER BY uploaded_at, id LIMIT ?3",
            conference,
            page,
            |r| {
                Ok(DocumentRow {
                    id: uuid_col(r, 0)?,
                    session: uuid_col(r, 1)?,
                    name: r.get(2)?,
                    content_type: r.get(3)?,
                    size: r.get(4)?,
                    uploaded_by: uuid_col(r, 5)?,
                    uploaded_at: r.get(6)?,
                    removed_at: r.get(7)?,
                })
            },
        )
        .await
    }
}
