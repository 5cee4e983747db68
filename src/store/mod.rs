//! Persistence: one [`Store`] trait with one error type, and two
//! implementations, PostgreSQL ([`postgres::PgStore`], production) and
//! SQLite ([`sqlite::SqliteStore`], the embedded default). Both apply the
//! migrations in `schema/` at start-up and pass the same conformance suite
//! (`tests/store_conformance.rs`).
//!
//! A lookup that finds nothing is [`StoreError::NotFound`], never a default
//! value, so a failing database can never pass for an empty one.

pub mod audit_chain;
mod chain_verifier;
pub mod erasure;
pub mod migrations;
pub mod organisations;
pub mod outbox;
mod pg_api_keys;
mod pg_audit_chain;
mod pg_contacts;
mod pg_erasure;
mod pg_history;
mod pg_nodes;
mod pg_organisations;
mod pg_pool;
mod pg_reports;
mod pg_retention;
mod pg_sealed;
mod pg_webhooks;
pub mod postgres;
pub mod records;
pub mod retention;
pub mod sealed;
pub mod sqlite;
mod sqlite_api_keys;
mod sqlite_audit_chain;
mod sqlite_contacts;
mod sqlite_erasure;
mod sqlite_history;
mod sqlite_nodes;
mod sqlite_open;
mod sqlite_organisations;
mod sqlite_reports;
mod sqlite_retention;
mod sqlite_sealed;
mod sqlite_webhooks;

pub use records::*;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use conclave_actors::{AccountId, ConferenceId};

/// Everything a store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing asked for does not exist (or is expired, for sessions).
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken; the string names which (`email`, `access_code`).
    #[error("conflict on {0}")]
    Conflict(&'static str),
    /// The database cannot be reached right now; the caller may retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or a corrupt row.
    #[error("store error: {0}")]
    Other(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A registered account.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: AccountId,
    /// Lower-cased.
    pub email: String,
    pub display_name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// argon2id PHC string of the moderator PIN of every conference the account owns.
    pub moderator_pin_hash: String,
    /// Keyed hash of the default security code for conferences scheduled from now on.
    pub default_security: Option<Vec<u8>>,
    pub created_at: DateTime<Utc>,
    /// The organisation it belongs to (docs/organisations.md); its own has
    /// the account's id.
    pub organisation: uuid::Uuid,
    /// `admin` or `member` of it.
    pub organisation_role: String,
}

impl Account {
    pub fn is_admin(&self) -> bool {
        self.organisation_role == "admin"
    }
}

/// The two kinds of conference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConferenceKind {
    /// The account's permanent line; its security code follows the account default.
    Line,
    /// A scheduled meeting with its own one-time access code.
    Scheduled,
}

impl ConferenceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConferenceKind::Line => "line",
            ConferenceKind::Scheduled => "scheduled",
        }
    }

    pub fn parse(s: &str) -> StoreResult<Self> {
        match s {
            "line" => Ok(Self::Line),
            "scheduled" => Ok(Self::Scheduled),
            other => Err(StoreError::Other(format!(
                "unknown conference kind {other:?}"
            ))),
        }
    }
}

/// Where a conference's security code came from, for display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecuritySource {
    None,
    /// Copied from the account default when scheduled (or, for the line, following it).
    AccountDefault,
    /// Set for this conference alone.
    Own,
}

impl SecuritySource {
    pub fn as_str(self) -> &'static str {
        match self {
            SecuritySource::None => "none",
            SecuritySource::AccountDefault => "default",
            SecuritySource::Own => "own",
        }
    }

    pub fn parse(s: &str) -> StoreResult<Self> {
        match s {
            "none" => Ok(Self::None),
            "default" => Ok(Self::AccountDefault),
            "own" => Ok(Self::Own),
            other => Err(StoreError::Other(format!(
                "unknown security source {other:?}"
            ))),
        }
    }
}

/// A conference: a line or a scheduled meeting, with its current access code.
#[derive(Clone, Debug)]
pub struct Conference {
    pub id: ConferenceId,
    pub account_id: AccountId,
    pub kind: ConferenceKind,
    pub title: String,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    /// Keyed hash of the security code; `None` when no code is needed.
    pub security: Option<Vec<u8>>,
    pub security_source: SecuritySource,
    /// The access code that admits to it now.
    pub access_code: String,
    pub created_at: DateTime<Utc>,
}

/// How a conference's security code is chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecurityChoice {
    None,
    /// The account default as it is at this moment (none if there is none).
    AccountDefault,
    /// This keyed hash.
    Own(Vec<u8>),
}

/// What [`Store::create_account`] needs.
#[derive(Clone, Debug)]
pub struct NewAccount {
    pub id: AccountId,
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub moderator_pin_hash: String,
    pub line_id: ConferenceId,
    pub line_access_code: String,
    pub now: DateTime<Utc>,
}

/// What [`Store::create_scheduled`] needs.
#[derive(Clone, Debug)]
pub struct NewScheduled {
    pub id: ConferenceId,
    pub account_id: AccountId,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub security: SecurityChoice,
    pub access_code: String,
    pub now: DateTime<Utc>,
}

/// A conference found by access code, with what admission checks need.
#[derive(Clone, Debug)]
pub struct CodeMatch {
    pub conference: Conference,
    /// The owner's moderator PIN hash.
    pub moderator_pin_hash: String,
}

/// The persistence interface. Every method is one transaction.
#[async_trait]
pub trait Store:
    outbox::Outbox
    + erasure::Erasure
    + audit_chain::ChainStore
    + retention::Retention
    + organisations::Organisations
    + sealed::SealedStore
    + Send
    + Sync
    + 'static
{
    /// Succeeds when the database answers.
    async fn ping(&self) -> StoreResult<()>;

    /// Creates the account and its line with the given access code.
    /// `Conflict("email")` or `Conflict("access_code")`.
    async fn create_account(&self, new: NewAccount) -> StoreResult<(Account, Conference)>;
    async fn account(&self, id: AccountId) -> StoreResult<Account>;
    /// `email` must be lower-cased.
    async fn account_by_email(&self, email: &str) -> StoreResult<Account>;

    async fn insert_session(
        &self,
        token_hash: &[u8],
        account_id: AccountId,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// The account of a live (unexpired, unrevoked) session, else `NotFound`.
    async fn session_account(&self, token_hash: &[u8], now: DateTime<Utc>) -> StoreResult<Account>;
    /// `NotFound` when there is no live session with that hash.
    async fn revoke_session(&self, token_hash: &[u8], now: DateTime<Utc>) -> StoreResult<()>;

    /// The account's permanent line.
    async fn line(&self, account_id: AccountId) -> StoreResult<Conference>;
    async fn conference(&self, id: ConferenceId) -> StoreResult<Conference>;
    /// The account's conferences, line first, then scheduled by start.
    async fn conferences(&self, account_id: AccountId) -> StoreResult<Vec<Conference>>;
    async fn create_scheduled(&self, new: NewScheduled) -> StoreResult<Conference>;

    /// Retires the conference's current code and makes `new_code` the one
    /// that admits. Retired codes stay reserved. `Conflict("access_code")`.
    async fn replace_access_code(
        &self,
        conference_id: ConferenceId,
        new_code: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn set_moderator_pin(&self, account_id: AccountId, pin_hash: &str) -> StoreResult<()>;
    /// Sets or clears the account default; the line follows it, scheduled
    /// conferences keep what they had.
    async fn set_default_security(
        &self,
        account_id: AccountId,
        security: Option<Vec<u8>>,
    ) -> StoreResult<()>;
    /// The account's default waiting-room setting (`off`, `everyone`,
    /// `unknown_guests`): its conferences follow it until their moderators
    /// choose in the room.
    async fn account_waiting_room(&self, account_id: AccountId) -> StoreResult<String>;
    async fn set_account_waiting_room(
        &self,
        account_id: AccountId,
        setting: &str,
    ) -> StoreResult<()>;
    /// Sets a scheduled conference's security code.
    async fn set_conference_security(
        &self,
        conference_id: ConferenceId,
        security: SecurityChoice,
    ) -> StoreResult<Conference>;

    /// The conference an active access code admits to.
    async fn find_access_code(&self, code: &str) -> StoreResult<CodeMatch>;

    /// Writes the persister's records in order, in one transaction. Writing
    /// the same records again changes nothing.
    async fn write_records(&self, records: &[Record]) -> StoreResult<()>;
    /// The conference's lock, permissions and blocks in force.
    async fn room_state(&self, conference: ConferenceId) -> StoreResult<RoomStateRow>;
    /// The conference's live sessions, oldest first.
    async fn conference_sessions(
        &self,
        conference: ConferenceId,
        page: Page,
    ) -> StoreResult<Vec<SessionRow>>;
    /// Attendance over every session of the conference, by join time.
    async fn attendance(
        &self,
        conference: ConferenceId,
        page: Page,
    ) -> StoreResult<Vec<AttendanceRow>>;
    /// The account's meetings over all its conferences, newest first, with
    /// their seats' totals.
    async fn account_sessions(
        &self,
        account: AccountId,
        query: SessionQuery,
    ) -> StoreResult<Vec<AccountSessionRow>>;
    /// The moderator audit log, oldest first.
    async fn audit_log(&self, conference: ConferenceId, page: Page) -> StoreResult<Vec<AuditRow>>;
    /// Every chat message, tombstones included, oldest first.
    async fn chat_log(&self, conference: ConferenceId, page: Page) -> StoreResult<Vec<ChatRow>>;
    /// Every shared document's metadata, removed ones included, in upload
    /// order.
    async fn documents(
        &self,
        conference: ConferenceId,
        page: Page,
    ) -> StoreResult<Vec<DocumentRow>>;
    /// Deletes, in one transaction, every session of the conference that
    /// started before `before` with all it holds: attendance, audit log,
    /// chat and document metadata. The conference, its codes and its room
    /// state (lock, permissions, blocks) stay. `told` (the webhook event
    /// that says so) and, when anything was deleted, a `history_deleted`
    /// link of the account's audit chain with the counts (at `at`) are
    /// written in the same transaction.
    async fn delete_history(
        &self,
        conference: ConferenceId,
        before: conclave_actors::room_state::Millis,
        at: conclave_actors::room_state::Millis,
        told: &[Record],
    ) -> StoreResult<DeletedHistory>;
    /// The name the conference owner's address book gives a number (by its
    /// keyed hash), if any.
    async fn contact_name(
        &self,
        conference: ConferenceId,
        number_index: &str,
    ) -> StoreResult<Option<String>>;
    /// Keeps a new API key; only its hash is stored.
    async fn insert_api_key(&self, row: &ApiKeyRow, key_hash: &[u8]) -> StoreResult<()>;
    /// The account's API keys, revoked ones included, oldest first.
    async fn api_keys(&self, account: AccountId) -> StoreResult<Vec<ApiKeyRow>>;
    /// One key by its id (a join token names it).
    async fn api_key(&self, id: uuid::Uuid) -> StoreResult<ApiKeyRow>;
    /// The key an application presents, by its hash.
    async fn api_key_by_hash(&self, key_hash: &[u8]) -> StoreResult<ApiKeyRow>;
    /// Revokes the account's key (again: no change); `NotFound` when the
    /// account has none with that id.
    async fn revoke_api_key(
        &self,
        account: AccountId,
        id: uuid::Uuid,
        at: conclave_actors::room_state::Millis,
    ) -> StoreResult<()>;
    /// The account's address book, by name (then by id, so the order is stable).
    async fn contacts(&self, account: AccountId) -> StoreResult<Vec<ContactRow>>;
    /// Renames the account's contact; `NotFound` when the account has none
    /// with that id.
    async fn rename_contact(
        &self,
        account: AccountId,
        number_index: &str,
        name: &str,
        at: conclave_actors::room_state::Millis,
    ) -> StoreResult<ContactRow>;
    /// Deletes the account's contact; `NotFound` when the account has none
    /// with that id.
    async fn delete_contact(&self, account: AccountId, number_index: &str) -> StoreResult<()>;

    /// Records that server node `node` is alive at `at` (src/node.rs).
    async fn node_alive(
        &self,
        node: uuid::Uuid,
        at: conclave_actors::room_state::Millis,
    ) -> StoreResult<()>;
    /// Forgets node `node`, which stopped cleanly (its rooms are closed).
    async fn node_stopped(&self, node: uuid::Uuid) -> StoreResult<()>;
    /// How many server nodes have written a heartbeat since `since`.
    async fn nodes_alive_since(
        &self,
        since: conclave_actors::room_state::Millis,
    ) -> StoreResult<u64>;
    /// Closes every open session left by `own` (this node, restarted), by a
    /// node not alive since `stale_before`, or by no recorded node: each
    /// ends at its last recorded event, its open seats leaving then with
    /// `server_stopped`. Stale nodes are forgotten. Returns the sessions.
    async fn close_abandoned_sessions(
        &self,
        own: Option<uuid::Uuid>,
        stale_before: conclave_actors::room_state::Millis,
    ) -> StoreResult<Vec<uuid::Uuid>>;
}

/// The store in use, shared by every request.
pub type SharedStore = Arc<dyn Store>;

/// Opens the store the configuration names and applies its migrations.
pub async fn open(config: &crate::config::Config) -> StoreResult<SharedStore> {
    let store = open_unkeyed(config).await?;
    store.set_chain_key(chain_key(config)?);
    Ok(store)
}

/// The audit chain's key, from the server's HMAC key (configured, or the
/// one kept in the data dir), so a store opened beside a running server
/// (`conclave audit verify`, tests) keys links as the server does.
pub fn chain_key(config: &crate::config::Config) -> StoreResult<audit_chain::ChainKey> {
    let hmac = match &config.hmac_key {
        Some(k) => k.clone(),
        None => {
            crate::secrets::ServerSecrets::load(
                &config.data_dir,
                None,
                config.encryption_key.clone(),
            )
            .map_err(|e| StoreError::Other(format!("cannot read the server's HMAC key: {e}")))?
            .hmac_key
        }
    };
    Ok(audit_chain::ChainKey::derive(hmac.expose()))
}

async fn open_unkeyed(config: &crate::config::Config) -> StoreResult<SharedStore> {
    match &config.database_url {
        Some(url) => {
            let store = postgres::PgStore::connect(url, config.database_schema.as_deref()).await?;
            store.migrate().await?;
            Ok(Arc::new(store))
        }
        None => {
            std::fs::create_dir_all(&config.data_dir).map_err(|e| {
                StoreError::Unavailable(format!(
                    "cannot create data dir {}: {e}",
                    config.data_dir.display()
                ))
            })?;
            let store =
                sqlite::SqliteStore::open(&config.data_dir.join("conclave.sqlite3")).await?;
            store.migrate().await?;
            Ok(Arc::new(store))
        }
    }
}

/// The columns both stores read a conference from, in the order their row
/// decoders expect, and the join that picks its active access code.
pub(crate) const CONFERENCE_COLUMNS: &str =
    "c.id, c.account_id, c.kind, c.title, c.starts_at, c.ends_at, \
     c.security, c.security_source, c.created_at, ac.code";
pub(crate) const CONFERENCE_FROM: &str =
    "conferences c JOIN access_codes ac ON ac.conference_id = c.id AND ac.retired_at IS NULL";
/// The columns both stores read an account from.
pub(crate) const ACCOUNT_COLUMNS: &str = "a.id, a.email, a.display_name, a.password_hash, \
     a.moderator_pin_hash, a.default_security, a.created_at, a.organisation_id, a.organisation_role";

/// Resolves the security choice against the account default and returns
/// (hash, source); shared by both stores so they cannot disagree.
pub(crate) fn resolve_security(
    choice: SecurityChoice,
    account_default: Option<Vec<u8>>,
) -> (Option<Vec<u8>>, SecuritySource) {
    match choice {
        SecurityChoice::None => (None, SecuritySource::None),
        SecurityChoice::AccountDefault => match account_default {
            Some(h) => (Some(h), SecuritySource::AccountDefault),
            None => (None, SecuritySource::None),
        },
        SecurityChoice::Own(h) => (Some(h), SecuritySource::Own),
    }
}

/// The address book's order, applied by both stores in Rust so that their
/// collations cannot make them disagree: by name, then by id.
pub(crate) fn sort_contacts(rows: &mut [ContactRow]) {
    rows.sort_by(|a, b| (&a.name, &a.number_index).cmp(&(&b.name, &b.number_index)));
}
