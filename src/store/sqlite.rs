//! The embedded SQLite store: one file in the data directory, one connection
//! behind a mutex. Every call runs on tokio's blocking pool, never on the
//! async threads that serve requests.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use conclave_actors::{AccountId, ConferenceId};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior};

use super::*;

pub struct SqliteStore {
    pub(super) conn: Arc<Mutex<Connection>>,
    pub(super) chain_key: std::sync::OnceLock<super::audit_chain::ChainKey>,
}

pub(super) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(v).ok_or(rusqlite::Error::IntegralValueOutOfRange(0, v))
}

pub(super) fn uuid_col(r: &Row, i: usize) -> rusqlite::Result<uuid::Uuid> {
    let text: String = r.get(i)?;
    uuid::Uuid::parse_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

pub(super) fn map_err(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
        rusqlite::Error::SqliteFailure(f, msg) => match f.code {
            ErrorCode::ConstraintViolation => {
                let msg = msg.as_deref().unwrap_or("");
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY {
                    StoreError::NotFound
                } else if msg.contains("accounts.email") {
                    StoreError::Conflict("email")
                } else if msg.contains("access_codes.code") {
                    StoreError::Conflict("access_code")
                } else {
                    StoreError::Conflict("unique")
                }
            }
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::CannotOpen => {
                StoreError::Unavailable(format!("SQLite: {e}"))
            }
            _ => StoreError::Other(format!("SQLite: {e}")),
        },
        _ => StoreError::Other(format!("SQLite: {e}")),
    }
}

fn account_from_row(r: &Row) -> rusqlite::Result<Account> {
    Ok(Account {
        id: AccountId(uuid_col(r, 0)?),
        email: r.get(1)?,
        display_name: r.get(2)?,
        password_hash: r.get(3)?,
        moderator_pin_hash: r.get(4)?,
        default_security: r.get(5)?,
        created_at: from_ms(r.get(6)?)?,
        organisation: uuid_col(r, 7)?,
        organisation_role: r.get(8)?,
    })
}

/// Reads the conference columns; kind and source are checked afterwards.
fn conference_from_row(r: &Row) -> rusqlite::Result<(Conference, String, String)> {
    let kind: String = r.get(2)?;
    let source: String = r.get(7)?;
    Ok((
        Conference {
            id: ConferenceId(uuid_col(r, 0)?),
            account_id: AccountId(uuid_col(r, 1)?),
            kind: ConferenceKind::Line,
            title: r.get(3)?,
            starts_at: r.get::<_, Option<i64>>(4)?.map(from_ms).transpose()?,
            ends_at: r.get::<_, Option<i64>>(5)?.map(from_ms).transpose()?,
            security: r.get(6)?,
            security_source: SecuritySource::None,
            created_at: from_ms(r.get(8)?)?,
            access_code: r.get(9)?,
        },
        kind,
        source,
    ))
}

fn finish_conference(
    (mut c, kind, source): (Conference, String, String),
) -> StoreResult<Conference> {
    c.kind = ConferenceKind::parse(&kind)?;
    c.security_source = SecuritySource::parse(&source)?;
    Ok(c)
}

fn conference_where(
    conn: &Connection,
    condition: &str,
    params: impl rusqlite::Params,
) -> StoreResult<Conference> {
    let sql = format!("SELECT {CONFERENCE_COLUMNS} FROM {CONFERENCE_FROM} WHERE {condition}");
    finish_conference(
        conn.query_row(&sql, params, conference_from_row)
            .map_err(map_err)?,
    )
}

fn account_where(
    conn: &Connection,
    condition: &str,
    params: impl rusqlite::Params,
) -> StoreResult<Account> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE {condition}");
    conn.query_row(&sql, params, account_from_row)
        .map_err(map_err)
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.call(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(map_err))
            .await
    }

    async fn create_account(&self, new: NewAccount) -> StoreResult<(Account, Conference)> {
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(map_err)?;
            let id = new.id.to_string();
            let line = new.line_id.to_string();
            tx.execute(
                "INSERT INTO organisations (id, created_at) VALUES (?1, ?2)",
                params![id, ms(new.now)],
            )
            .map_err(map_err)?;
            tx.execute(
                "INSERT INTO accounts (id, email, display_name, password_hash, moderator_pin_hash, created_at, organisation_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?1)",
                params![id, new.email, new.display_name, new.password_hash, new.moderator_pin_hash, ms(new.now)],
            )
            .map_err(map_err)?;
            tx.execute(
                "INSERT INTO conferences (id, account_id, kind, title, security_source, created_at)
                 VALUES (?1, ?2, 'line', ?3, 'none', ?4)",
                params![line, id, new.display_name, ms(new.now)],
            )
            .map_err(map_err)?;
            tx.execute(
                "INSERT INTO access_codes (code, conference_id, created_at) VALUES (?1, ?2, ?3)",
                params![new.line_access_code, line, ms(new.now)],
            )
            .map_err(map_err)?;
            let account = account_where(&tx, "a.id = ?1", [&id])?;
            let conference = conference_where(&tx, "c.id = ?1", [&line])?;
            tx.commit().map_err(map_err)?;
            Ok((account, conference))
        })
        .await
    }

    async fn account(&self, id: AccountId) -> StoreResult<Account> {
        self.call(move |c| account_where(c, "a.id = ?1", [id.to_string()]))
            .await
    }

    async fn account_by_email(&self, email: &str) -> StoreResult<Account> {
        let email = email.to_owned();
        self.call(move |c| account_where(c, "a.email = ?1", [email]))
            .await
    }

    async fn insert_session(
        &self,
        token_hash: &[u8],
        account_id: AccountId,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let token_hash = token_hash.to_vec();
        self.call(move |c| {
            c.execute(
                "INSERT INTO sessions (token_hash, account_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![token_hash, account_id.to_string(), ms(now), ms(expires_at)],
            )
            .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn session_account(&self, token_hash: &[u8], now: DateTime<Utc>) -> StoreResult<Account> {
        let token_hash = token_hash.to_vec();
        self.call(move |c| {
            let sql = format!(
                "SELECT {ACCOUNT_COLUMNS} FROM sessions s JOIN accounts a ON a.id = s.account_id
                 WHERE s.token_hash = ?1 AND s.revoked_at IS NULL AND s.expires_at > ?2"
            );
            c.query_row(&sql, params![token_hash, ms(now)], account_from_row)
                .map_err(map_err)
        })
        .await
    }

    async fn revoke_session(&self, token_hash: &[u8], now: DateTime<Utc>) -> StoreResult<()> {
        let token_hash = token_hash.to_vec();
        self.call(move |c| {
            let n = c
                .execute(
                    "UPDATE sessions SET revoked_at = ?2 WHERE token_hash = ?1 AND revoked_at IS NULL",
                    params![token_hash, ms(now)],
                )
                .map_err(map_err)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
        .await
    }

    async fn line(&self, account_id: AccountId) -> StoreResult<Conference> {
        self.call(move |c| {
            conference_where(
                c,
                "c.account_id = ?1 AND c.kind = 'line'",
                [account_id.to_string()],
            )
        })
        .await
    }

    async fn conference(&self, id: ConferenceId) -> StoreResult<Conference> {
        self.call(move |c| conference_where(c, "c.id = ?1", [id.to_string()]))
            .await
    }

    async fn conferences(&self, account_id: AccountId) -> StoreResult<Vec<Conference>> {
        self.call(move |c| {
            let sql = format!(
                "SELECT {CONFERENCE_COLUMNS} FROM {CONFERENCE_FROM} WHERE c.account_id = ?1
                 ORDER BY c.kind = 'line' DESC, c.starts_at, c.created_at"
            );
            let mut stmt = c.prepare(&sql).map_err(map_err)?;
            let rows = stmt
                .query_map([account_id.to_string()], conference_from_row)
                .map_err(map_err)?;
            rows.map(|r| finish_conference(r.map_err(map_err)?))
                .collect()
        })
        .await
    }

    async fn create_scheduled(&self, new: NewScheduled) -> StoreResult<Conference> {
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(map_err)?;
            let default: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT default_security FROM accounts WHERE id = ?1",
                    [new.account_id.to_string()],
                    |r| r.get(0),
                )
                .map_err(map_err)?;
            let (security, source) = resolve_security(new.security, default);
            let id = new.id.to_string();
            tx.execute(
                "INSERT INTO conferences (id, account_id, kind, title, starts_at, ends_at, security, security_source, created_at)
                 VALUES (?1, ?2, 'scheduled', ?3, ?4, ?5, ?6, ?7, ?8)",
                params![id, new.account_id.to_string(), new.title, ms(new.starts_at), ms(new.ends_at), security, source.as_str(), ms(new.now)],
            )
            .map_err(map_err)?;
            tx.execute(
                "INSERT INTO access_codes (code, conference_id, created_at) VALUES (?1, ?2, ?3)",
                params![new.access_code, id, ms(new.now)],
            )
            .map_err(map_err)?;
            let conference = conference_where(&tx, "c.id = ?1", [&id])?;
            tx.commit().map_err(map_err)?;
            Ok(conference)
        })
        .await
    }

    async fn replace_access_code(
        &self,
        conference_id: ConferenceId,
        new_code: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let new_code = new_code.to_owned();
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(map_err)?;
            let id = conference_id.to_string();
            let retired = tx
                .execute(
                    "UPDATE access_codes SET retired_at = ?2 WHERE conference_id = ?1 AND retired_at IS NULL",
                    params![id, ms(now)],
                )
                .map_err(map_err)?;
            if retired == 0 {
                return Err(StoreError::NotFound);
            }
            tx.execute(
                "INSERT INTO access_codes (code, conference_id, created_at) VALUES (?1, ?2, ?3)",
                params![new_code, id, ms(now)],
            )
            .map_err(map_err)?;
            tx.commit().map_err(map_err)
        })
        .await
    }

    async fn set_moderator_pin(&self, account_id: AccountId, pin_hash: &str) -> StoreResult<()> {
        let pin_hash = pin_hash.to_owned();
        self.call(move |c| {
            let n = c
                .execute(
                    "UPDATE accounts SET moderator_pin_hash = ?2 WHERE id = ?1",
                    params![account_id.to_string(), pin_hash],
                )
                .map_err(map_err)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
        .await
    }

    async fn account_waiting_room(&self, account_id: AccountId) -> StoreResult<String> {
        self.call(move |conn| {
            conn.query_row(
                "SELECT waiting_room FROM accounts WHERE id = ?1",
                params![account_id.to_string()],
                |r| r.get(0),
            )
            .optional()
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)
        })
        .await
    }

    async fn set_account_waiting_room(
        &self,
        account_id: AccountId,
        setting: &str,
    ) -> StoreResult<()> {
        let setting = setting.to_owned();
        self.call(move |conn| {
            let n = conn
                .execute(
                    "UPDATE accounts SET waiting_room = ?2 WHERE id = ?1",
                    params![account_id.to_string(), setting],
                )
                .map_err(map_err)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
        .await
    }

    async fn set_default_security(
        &self,
        account_id: AccountId,
        security: Option<Vec<u8>>,
    ) -> StoreResult<()> {
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(map_err)?;
            let id = account_id.to_string();
            let n = tx
                .execute("UPDATE accounts SET default_security = ?2 WHERE id = ?1", params![id, security])
                .map_err(map_err)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            let (line_security, source) = resolve_security(SecurityChoice::AccountDefault, security);
            tx.execute(
                "UPDATE conferences SET security = ?2, security_source = ?3 WHERE account_id = ?1 AND kind = 'line'",
                params![id, line_security, source.as_str()],
            )
            .map_err(map_err)?;
            tx.commit().map_err(map_err)
        })
        .await
    }

    async fn set_conference_security(
        &self,
        conference_id: ConferenceId,
        choice: SecurityChoice,
    ) -> StoreResult<Conference> {
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(map_err)?;
            let id = conference_id.to_string();
            let default: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT a.default_security FROM conferences c JOIN accounts a ON a.id = c.account_id
                     WHERE c.id = ?1 AND c.kind = 'scheduled'",
                    [&id],
                    |r| r.get(0),
                )
                .map_err(map_err)?;
            let (security, source) = resolve_security(choice, default);
            tx.execute(
                "UPDATE conferences SET security = ?2, security_source = ?3 WHERE id = ?1",
                params![id, security, source.as_str()],
            )
            .map_err(map_err)?;
            let conference = conference_where(&tx, "c.id = ?1", [&id])?;
            tx.commit().map_err(map_err)?;
            Ok(conference)
        })
        .await
    }

    async fn find_access_code(&self, code: &str) -> StoreResult<CodeMatch> {
        let code = code.to_owned();
        self.call(move |c| {
            let sql = format!(
                "SELECT {CONFERENCE_COLUMNS}, a.moderator_pin_hash FROM {CONFERENCE_FROM}
                 JOIN accounts a ON a.id = c.account_id WHERE ac.code = ?1"
            );
            let (raw, pin) = c
                .query_row(&sql, [code], |r| {
                    Ok((conference_from_row(r)?, r.get::<_, String>(10)?))
                })
                .map_err(map_err)?;
            Ok(CodeMatch {
                conference: finish_conference(raw)?,
                moderator_pin_hash: pin,
            })
        })
        .await
    }

    async fn write_records(&self, records: &[Record]) -> StoreResult<()> {
        self.write_records_sqlite(records).await
    }

    async fn room_state(&self, conference: ConferenceId) -> StoreResult<RoomStateRow> {
        self.room_state_sqlite(conference).await
    }

    async fn account_sessions(
        &self,
        account: AccountId,
        query: SessionQuery,
    ) -> StoreResult<Vec<AccountSessionRow>> {
        self.account_sessions_sqlite(account, query).await
    }

    async fn conference_sessions(
        &self,
        conference: ConferenceId,
        page: Page,
    ) -> StoreResult<Vec<SessionRow>> {
        self.conference_sessions_sqlite(conference, page).await
    }

    async fn attendance(
        &self,
        conference: ConferenceId,
        page: Page,
    ) -> StoreResult<Vec<AttendanceRow>> {
        self.attendance_sqlite(conference, page).await
    }

    async fn audit_log(&self, conference: ConferenceId, page: Page) -> StoreResult<Vec<AuditRow>> {
        self.audit_log_sqlite(conference, page).await
    }

    async fn chat_log(&self, conference: ConferenceId, page: Page) -> StoreResult<Vec<ChatRow>> {
        self.chat_log_sqlite(conference, page).await
    }

    async fn documents(
        &self,
        conference: ConferenceId,
        page: Page,
    ) -> StoreResult<Vec<DocumentRow>> {
        self.documents_sqlite(conference, page).await
    }

    async fn delete_history(
        &self,
        conference: ConferenceId,
        before: conclave_actors::room_state::Millis,
        at: conclave_actors::room_state::Millis,
        told: &[Record],
    ) -> StoreResult<DeletedHistory> {
        self.delete_history_sqlite(conference, before, at, told)
            .await
    }

    async fn contact_name(
        &self,
        conference: ConferenceId,
        number_index: &str,
    ) -> StoreResult<Option<String>> {
        self.contact_name_sqlite(conference, number_index).await
    }

    async fn insert_api_key(&self, row: &ApiKeyRow, key_hash: &[u8]) -> StoreResult<()> {
        self.insert_api_key_sqlite(row, key_hash).await
    }
    async fn api_keys(&self, account: AccountId) -> StoreResult<Vec<ApiKeyRow>> {
        self.api_keys_sqlite(account).await
    }
    async fn api_key(&self, id: uuid::Uuid) -> StoreResult<ApiKeyRow> {
        self.api_key_sqlite(id).await
    }
    async fn api_key_by_hash(&self, key_hash: &[u8]) -> StoreResult<ApiKeyRow> {
        self.api_key_by_hash_sqlite(key_hash).await
    }
    async fn revoke_api_key(
        &self,
        account: AccountId,
        id: uuid::Uuid,
        at: conclave_actors::room_state::Millis,
    ) -> StoreResult<()> {
        self.revoke_api_key_sqlite(account, id, at).await
    }
    async fn contacts(&self, account: AccountId) -> StoreResult<Vec<ContactRow>> {
        self.contacts_sqlite(account).await
    }

    async fn rename_contact(
        &self,
        account: AccountId,
        number_index: &str,
        name: &str,
        at: conclave_actors::room_state::Millis,
    ) -> StoreResult<ContactRow> {
        self.rename_contact_sqlite(account, number_index, name, at)
            .await
    }

    async fn delete_contact(&self, account: AccountId, number_index: &str) -> StoreResult<()> {
        self.delete_contact_sqlite(account, number_index).await
    }

    async fn node_alive(
        &self,
        node: uuid::Uuid,
        at: conclave_actors::room_state::Millis,
    ) -> StoreResult<()> {
        self.node_alive_sqlite(node, at).await
    }

    async fn node_stopped(&self, node: uuid::Uuid) -> StoreResult<()> {
        self.node_stopped_sqlite(node).await
    }

    async fn nodes_alive_since(
        &self,
        since: conclave_actors::room_state::Millis,
    ) -> StoreResult<u64> {
        self.nodes_alive_since_sqlite(since).await
    }

    async fn close_abandoned_sessions(
        &self,
        own: Option<uuid::Uuid>,
        stale_before: conclave_actors::room_state::Millis,
    ) -> StoreResult<Vec<uuid::Uuid>> {
        self.close_abandoned_sqlite(own, stale_before).await
    }
}
