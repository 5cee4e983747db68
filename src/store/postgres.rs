//! The PostgreSQL store, on a deadpool-postgres pool. Connection and pool
//! waits are bounded, so an outage is reported as `Unavailable` within
//! seconds instead of hanging requests.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use conclave_actors::{AccountId, ConferenceId};
use deadpool_postgres::{GenericClient, Pool};
use tokio_postgres::error::SqlState;
use tokio_postgres::Row;

use super::*;

pub struct PgStore {
    pub(super) pool: Pool,
    pub(super) schema: Option<String>,
    pub(super) chain_key: std::sync::OnceLock<super::audit_chain::ChainKey>,
}

pub(super) fn map_err(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        if *db.code() == SqlState::UNIQUE_VIOLATION {
            return StoreError::Conflict(match db.constraint() {
                Some("accounts_email_key") => "email",
                Some("access_codes_pkey") => "access_code",
                _ => "unique",
            });
        }
        if *db.code() == SqlState::FOREIGN_KEY_VIOLATION {
            return StoreError::NotFound;
        }
        // Connection trouble, resource limits, shutdown and restarts,
        // serialization failures: the same statement may succeed later.
        let class = &db.code().code()[..2];
        if matches!(class, "08" | "40" | "53" | "57" | "58") {
            return StoreError::Unavailable(format!("PostgreSQL: {}", db.message()));
        }
        return StoreError::Other(format!("PostgreSQL: {}", db.message()));
    }
    if e.is_closed() {
        return StoreError::Unavailable("PostgreSQL connection closed".into());
    }
    StoreError::Unavailable(format!("PostgreSQL: {e}"))
}

fn account_from_row(r: &Row) -> StoreResult<Account> {
    Ok(Account {
        id: AccountId(r.try_get(0).map_err(map_err)?),
        email: r.try_get(1).map_err(map_err)?,
        display_name: r.try_get(2).map_err(map_err)?,
        password_hash: r.try_get(3).map_err(map_err)?,
        moderator_pin_hash: r.try_get(4).map_err(map_err)?,
        default_security: r.try_get(5).map_err(map_err)?,
        created_at: r.try_get(6).map_err(map_err)?,
        organisation: r.try_get(7).map_err(map_err)?,
        organisation_role: r.try_get(8).map_err(map_err)?,
    })
}

pub(super) fn conference_from_row(r: &Row) -> StoreResult<Conference> {
    Ok(Conference {
        id: ConferenceId(r.try_get(0).map_err(map_err)?),
        account_id: AccountId(r.try_get(1).map_err(map_err)?),
        kind: ConferenceKind::parse(r.try_get(2).map_err(map_err)?)?,
        title: r.try_get(3).map_err(map_err)?,
        starts_at: r.try_get(4).map_err(map_err)?,
        ends_at: r.try_get(5).map_err(map_err)?,
        security: r.try_get(6).map_err(map_err)?,
        security_source: SecuritySource::parse(r.try_get(7).map_err(map_err)?)?,
        created_at: r.try_get(8).map_err(map_err)?,
        access_code: r.try_get(9).map_err(map_err)?,
    })
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        self.client()
            .await?
            .simple_query("SELECT 1")
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn create_account(&self, new: NewAccount) -> StoreResult<(Account, Conference)> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        tx.execute(
            "INSERT INTO organisations (id, created_at) VALUES ($1, $2)",
            &[&new.id.0, &new.now],
        )
        .await
        .map_err(map_err)?;
        tx.execute(
            "INSERT INTO accounts (id, email, display_name, password_hash, moderator_pin_hash, created_at, organisation_id)
             VALUES ($1, $2, $3, $4, $5, $6, $1)",
            &[&new.id.0, &new.email, &new.display_name, &new.password_hash, &new.moderator_pin_hash, &new.now],
        )
        .await
        .map_err(map_err)?;
        tx.execute(
            "INSERT INTO conferences (id, account_id, kind, title, security_source, created_at)
             VALUES ($1, $2, 'line', $3, 'none', $4)",
            &[&new.line_id.0, &new.id.0, &new.display_name, &new.now],
        )
        .await
        .map_err(map_err)?;
        tx.execute(
            "INSERT INTO access_codes (code, conference_id, created_at) VALUES ($1, $2, $3)",
            &[&new.line_access_code, &new.line_id.0, &new.now],
        )
        .await
        .map_err(map_err)?;
        let account = account_from_row(
            &tx.query_one(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = $1"),
                &[&new.id.0],
            )
            .await
            .map_err(map_err)?,
        )?;
        let line = Self::conference_where(&tx, "c.id = $1", &[&new.line_id.0]).await?;
        tx.commit().await.map_err(map_err)?;
        Ok((account, line))
    }

    async fn account(&self, id: AccountId) -> StoreResult<Account> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = $1"),
                &[&id.0],
            )
            .await
            .map_err(map_err)?;
        account_from_row(&row.ok_or(StoreError::NotFound)?)
    }

    async fn account_by_email(&self, email: &str) -> StoreResult<Account> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.email = $1"),
                &[&email],
            )
            .await
            .map_err(map_err)?;
        account_from_row(&row.ok_or(StoreError::NotFound)?)
    }

    async fn insert_session(
        &self,
        token_hash: &[u8],
        account_id: AccountId,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.client()
            .await?
            .execute(
                "INSERT INTO sessions (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                &[&token_hash, &account_id.0, &now, &expires_at],
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn session_account(&self, token_hash: &[u8], now: DateTime<Utc>) -> StoreResult<Account> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM sessions s JOIN accounts a ON a.id = s.account_id
                     WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2"
                ),
                &[&token_hash, &now],
            )
            .await
            .map_err(map_err)?;
        account_from_row(&row.ok_or(StoreError::NotFound)?)
    }

    async fn revoke_session(&self, token_hash: &[u8], now: DateTime<Utc>) -> StoreResult<()> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL",
                &[&token_hash, &now],
            )
            .await
            .map_err(map_err)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn line(&self, account_id: AccountId) -> StoreResult<Conference> {
        let client = self.client().await?;
        Self::conference_where(
            &client,
            "c.account_id = $1 AND c.kind = 'line'",
            &[&account_id.0],
        )
        .await
    }

    async fn conference(&self, id: ConferenceId) -> StoreResult<Conference> {
        let client = self.client().await?;
        Self::conference_where(&client, "c.id = $1", &[&id.0]).await
    }

    async fn conferences(&self, account_id: AccountId) -> StoreResult<Vec<Conference>> {
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT {CONFERENCE_COLUMNS} FROM {CONFERENCE_FROM} WHERE c.account_id = $1
                     ORDER BY c.kind = 'line' DESC, c.starts_at, c.created_at"
                ),
                &[&account_id.0],
            )
            .await
            .map_err(map_err)?;
        rows.iter().map(conference_from_row).collect()
    }

    async fn create_scheduled(&self, new: NewScheduled) -> StoreResult<Conference> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        // FOR SHARE: a concurrent change of the default either lands before
        // this conference is scheduled (and applies) or after (and does not).
        let default: Option<Vec<u8>> = tx
            .query_opt(
                "SELECT default_security FROM accounts WHERE id = $1 FOR SHARE",
                &[&new.account_id.0],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?
            .try_get(0)
            .map_err(map_err)?;
        let (security, source) = resolve_security(new.security, default);
        tx.execute(
            "INSERT INTO conferences (id, account_id, kind, title, starts_at, ends_at, security, security_source, created_at)
             VALUES ($1, $2, 'scheduled', $3, $4, $5, $6, $7, $8)",
            &[&new.id.0, &new.account_id.0, &new.title, &new.starts_at, &new.ends_at, &security, &source.as_str(), &new.now],
        )
        .await
        .map_err(map_err)?;
        tx.execute(
            "INSERT INTO access_codes (code, conference_id, created_at) VALUES ($1, $2, $3)",
            &[&new.access_code, &new.id.0, &new.now],
        )
        .await
        .map_err(map_err)?;
        let conference = Self::conference_where(&tx, "c.id = $1", &[&new.id.0]).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(conference)
    }

    async fn replace_access_code(
        &self,
        conference_id: ConferenceId,
        new_code: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let retired = tx
            .execute(
                "UPDATE access_codes SET retired_at = $2 WHERE conference_id = $1 AND retired_at IS NULL",
                &[&conference_id.0, &now],
            )
            .await
            .map_err(map_err)?;
        if retired == 0 {
            return Err(StoreError::NotFound);
        }
        tx.execute(
            "INSERT INTO access_codes (code, conference_id, created_at) VALUES ($1, $2, $3)",
            &[&new_code, &conference_id.0, &now],
        )
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn set_moderator_pin(&self, account_id: AccountId, pin_hash: &str) -> StoreResult<()> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE accounts SET moderator_pin_hash = $2 WHERE id = $1",
                &[&account_id.0, &pin_hash],
            )
            .await
            .map_err(map_err)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn account_waiting_room(&self, account_id: AccountId) -> StoreResult<String> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT waiting_room FROM accounts WHERE id = $1",
                &[&account_id.0],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        row.try_get(0).map_err(map_err)
    }

    async fn set_account_waiting_room(
        &self,
        account_id: AccountId,
        setting: &str,
    ) -> StoreResult<()> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE accounts SET waiting_room = $2 WHERE id = $1",
                &[&account_id.0, &setting],
            )
            .await
            .map_err(map_err)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn set_default_security(
        &self,
        account_id: AccountId,
        security: Option<Vec<u8>>,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let n = tx
            .execute(
                "UPDATE accounts SET default_security = $2 WHERE id = $1",
                &[&account_id.0, &security],
            )
            .await
            .map_err(map_err)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        let (line_security, source) = resolve_security(SecurityChoice::AccountDefault, security);
        tx.execute(
            "UPDATE conferences SET security = $2, security_source = $3 WHERE account_id = $1 AND kind = 'line'",
            &[&account_id.0, &line_security, &source.as_str()],
        )
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn set_conference_security(
        &self,
        conference_id: ConferenceId,
        choice: SecurityChoice,
    ) -> StoreResult<Conference> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let default: Option<Vec<u8>> = tx
            .query_opt(
                "SELECT a.default_security FROM conferences c JOIN accounts a ON a.id = c.account_id
                 WHERE c.id = $1 AND c.kind = 'scheduled' FOR SHARE OF a",
                &[&conference_id.0],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?
            .try_get(0)
            .map_err(map_err)?;
        let (security, source) = resolve_security(choice, default);
        tx.execute(
            "UPDATE conferences SET security = $2, security_source = $3 WHERE id = $1",
            &[&conference_id.0, &security, &source.as_str()],
        )
        .await
        .map_err(map_err)?;
        let conference = Self::conference_where(&tx, "c.id = $1", &[&conference_id.0]).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(conference)
    }

    async fn find_access_code(&self, code: &str) -> StoreResult<CodeMatch> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!(
                    "SELECT {CONFERENCE_COLUMNS}, a.moderator_pin_hash FROM {CONFERENCE_FROM}
                     JOIN accounts a ON a.id = c.account_id WHERE ac.code = $1"
                ),
                &[&code],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        Ok(CodeMatch {
            conference: conference_from_row(&row)?,
            moderator_pin_hash: row.try_get(10).map_err(map_err)?,
        })
    }

    async fn write_records(&self, records: &[Record]) -> StoreResult<()> {
        self.write_records_pg(records).await
    }

    async fn room_state(&self, conference: ConferenceId) -> StoreResult<RoomStateRow> {
        self.room_state_pg(conference).await
    }

    async fn account_sessions(
        &self,
        account: AccountId,
        query: SessionQuery,
    ) -> StoreResult<Vec<AccountSessionRow>> {
        self.account_sessions_pg(account, query).await
    }

    async fn conference_sessions(
        &self,
        conference: ConferenceId,
        page: Page,
    ) -> StoreResult<Vec<SessionRow>> {
        self.conference_sessions_pg(conference, page).await
    }

    async fn attendance(
        &self,
        conference: ConferenceId,
        page: Page,
    ) -> StoreResult<Vec<AttendanceRow>> {
        self.attendance_pg(conference, page).await
    }

    async fn audit_log(&self, conference: ConferenceId, page: Page) -> StoreResult<Vec<AuditRow>> {
        self.audit_log_pg(conference, page).await
    }

    async fn chat_log(&self, conference: ConferenceId, page: Page) -> StoreResult<Vec<ChatRow>> {
        self.chat_log_pg(conference, page).await
    }

    async fn documents(
        &self,
        conference: ConferenceId,
        page: Page,
    ) -> StoreResult<Vec<DocumentRow>> {
        self.documents_pg(conference, page).await
    }

    async fn delete_history(
        &self,
        conference: ConferenceId,
        before: conclave_actors::room_state::Millis,
        at: conclave_actors::room_state::Millis,
        told: &[Record],
    ) -> StoreResult<DeletedHistory> {
        self.delete_history_pg(conference, before, at, told).await
    }

    async fn contact_name(
        &self,
        conference: ConferenceId,
        number_index: &str,
    ) -> StoreResult<Option<String>> {
        self.contact_name_pg(conference, number_index).await
    }

    async fn insert_api_key(&self, row: &ApiKeyRow, key_hash: &[u8]) -> StoreResult<()> {
        self.insert_api_key_pg(row, key_hash).await
    }
    async fn api_keys(&self, account: AccountId) -> StoreResult<Vec<ApiKeyRow>> {
        self.api_keys_pg(account).await
    }
    async fn api_key(&self, id: uuid::Uuid) -> StoreResult<ApiKeyRow> {
        self.api_key_pg(id).await
    }
    async fn api_key_by_hash(&self, key_hash: &[u8]) -> StoreResult<ApiKeyRow> {
        self.api_key_by_hash_pg(key_hash).await
    }
    async fn revoke_api_key(
        &self,
        account: AccountId,
        id: uuid::Uuid,
        at: conclave_actors::room_state::Millis,
    ) -> StoreResult<()> {
        self.revoke_api_key_pg(account, id, at).await
    }
    async fn contacts(&self, account: AccountId) -> StoreResult<Vec<ContactRow>> {
        self.contacts_pg(account).await
    }

    async fn rename_contact(
        &self,
        account: AccountId,
        number_index: &str,
        name: &str,
        at: conclave_actors::room_state::Millis,
    ) -> StoreResult<ContactRow> {
        self.rename_contact_pg(account, number_index, name, at)
            .await
    }

    async fn delete_contact(&self, account: AccountId, number_index: &str) -> StoreResult<()> {
        self.delete_contact_pg(account, number_index).await
    }

    async fn node_alive(
        &self,
        node: uuid::Uuid,
        at: conclave_actors::room_state::Millis,
    ) -> StoreResult<()> {
        self.node_alive_pg(node, at).await
    }

    async fn node_stopped(&self, node: uuid::Uuid) -> StoreResult<()> {
        self.node_stopped_pg(node).await
    }

    async fn nodes_alive_since(
        &self,
        since: conclave_actors::room_state::Millis,
    ) -> StoreResult<u64> {
        self.nodes_alive_since_pg(since).await
    }

    async fn close_abandoned_sessions(
        &self,
        own: Option<uuid::Uuid>,
        stale_before: conclave_actors::room_state::Millis,
    ) -> StoreResult<Vec<uuid::Uuid>> {
        self.close_abandoned_pg(own, stale_before).await
    }
}
