//! What the persister writes (one [`Record`] per row change) and what the
//! history queries read back. Every insert carries an id minted before the
//! write, and every update sets values rather than adding to them, so a
//! batch written twice (a commit whose answer was lost in an outage) leaves
//! the same rows as a batch written once.

use conclave_actors::room_state::Millis;
use uuid::Uuid;

/// One row change. Times are milliseconds since the Unix epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    SessionStarted {
        session: Uuid,
        conference: Uuid,
        /// The server node holding the room (src/node.rs).
        node: Uuid,
        /// The summary's data key, wrapped by the server's encryption key
        /// (src/summary_keys.rs); `None` writes the summary's rows in clear
        /// (tests that seed a store directly).
        data_key: Option<Vec<u8>>,
        at: Millis,
    },
    SessionEnded {
        session: Uuid,
        at: Millis,
    },
    /// A seat was taken: its attendance interval starts.
    Joined {
        participant: Uuid,
        session: Uuid,
        name: String,
        /// `web` or `phone`.
        endpoint: &'static str,
        /// The phone number sealed with the server's encryption key.
        phone_sealed: Option<Vec<u8>>,
        role: &'static str,
        at: Millis,
    },
    /// The seat was given up: its attendance interval ends.
    Left {
        participant: Uuid,
        reason: &'static str,
        at: Millis,
    },
    RoleChanged {
        participant: Uuid,
        role: &'static str,
    },
    Renamed {
        participant: Uuid,
        /// Sealed with the summary's key, as `Joined`'s.
        name: String,
    },
    Audit {
        id: Uuid,
        conference: Uuid,
        session: Uuid,
        actor: Uuid,
        action: &'static str,
        target: Option<String>,
        detail: Option<String>,
        at: Millis,
    },
    /// A link of an organisation's audit chain for an action that is not
    /// a moderator's (those chain their `Audit` row): a deletion, an
    /// erasure, an export (src/store/audit_chain.rs). `detail` is JSON of
    /// counts only, never names or numbers.
    Chained {
        id: Uuid,
        of: ChainOf,
        kind: &'static str,
        detail: String,
        at: Millis,
    },
    ChatPosted {
        id: Uuid,
        conference: Uuid,
        session: Uuid,
        sender: Uuid,
        sender_name: String,
        text: String,
        at: Millis,
    },
    /// The text is dropped; the row stays as a tombstone.
    ChatDeleted {
        id: Uuid,
        at: Millis,
    },
    DocumentAdded {
        id: Uuid,
        conference: Uuid,
        session: Uuid,
        name: String,
        content_type: String,
        size: i64,
        by: Uuid,
        at: Millis,
    },
    DocumentRemoved {
        id: Uuid,
        at: Millis,
        /// Removed by a person (not expired with its session): its name
        /// goes with its bytes, the row keeps only that a file was shared.
        erase_name: bool,
    },
    Locked {
        conference: Uuid,
        locked: bool,
        at: Millis,
    },
    Permission {
        conference: Uuid,
        /// `chat` or `share`.
        permission: &'static str,
        /// `everyone` or `moderators`.
        audience: &'static str,
        at: Millis,
    },
    /// The moderators' waiting-room setting for the conference.
    WaitingRoom {
        conference: Uuid,
        /// `off`, `everyone` or `unknown_guests`.
        setting: &'static str,
        at: Millis,
    },
    BlockAdded {
        id: Uuid,
        conference: Uuid,
        name: String,
        /// JSON array of `{"kind", "value"}`; phone values are keyed hashes.
        identities: String,
        by: Uuid,
        at: Millis,
    },
    BlockLifted {
        id: Uuid,
        at: Millis,
    },
    /// A caller's name in the conference owner's address book.
    ContactSaved {
        conference: Uuid,
        /// Keyed hash of the number: how a later call finds the name.
        number_index: String,
        number_sealed: Vec<u8>,
        name: String,
        at: Millis,
    },
    /// An event for the account's webhooks (docs/webhooks.md): written
    /// only when one of its endpoints wants `kind`, with one delivery per
    /// such endpoint, in the same transaction as the history it describes.
    Webhook {
        id: Uuid,
        conference: Uuid,
        kind: &'static str,
        /// The JSON body as sent.
        body: String,
        at: Millis,
    },
}

impl Record {
    /// The record's kind, for logs (records carry names and numbers).
    pub fn kind(&self) -> &'static str {
        match self {
            Record::SessionStarted { .. } => "session_started",
            Record::SessionEnded { .. } => "session_ended",
            Record::Joined { .. } => "joined",
            Record::Left { .. } => "left",
            Record::RoleChanged { .. } => "role_changed",
            Record::Renamed { .. } => "renamed",
            Record::Audit { .. } => "audit",
            Record::Chained { .. } => "chained",
            Record::ChatPosted { .. } => "chat_posted",
            Record::ChatDeleted { .. } => "chat_deleted",
            Record::DocumentAdded { .. } => "document_added",
            Record::DocumentRemoved { .. } => "document_removed",
            Record::Locked { .. } => "locked",
            Record::Permission { .. } => "permission",
            Record::WaitingRoom { .. } => "waiting_room",
            Record::BlockAdded { .. } => "block_added",
            Record::BlockLifted { .. } => "block_lifted",
            Record::ContactSaved { .. } => "contact_saved",
            Record::Webhook { .. } => "webhook",
        }
    }
}

/// The chain a `Chained` link goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainOf {
    /// The chain of the organisation the account belongs to when the link
    /// is written.
    Account(Uuid),
    /// That organisation's chain: a deletion's link in a chain that holds
    /// some of the moderator actions it deleted (written while their
    /// conference's owner belonged to another organisation).
    Organisation(Uuid),
}

/// What deleting a conference's history removed: the sessions (whose
/// recordings go with them) and the documents (whose bytes go with them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeletedHistory {
    pub sessions: Vec<Uuid>,
    pub documents: Vec<Uuid>,
}

/// An API key as its account sees it (the key itself is never kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub id: Uuid,
    pub account_id: conclave_actors::AccountId,
    pub name: String,
    pub created_at: Millis,
    pub revoked_at: Option<Millis>,
}

/// Which part of a conference's history a read returns, in its usual
/// order: the rows after the one whose id is `after` (from the start when
/// `None`), at most `limit` of them (all when `None`). For attendance, the
/// page is one of sessions: the seats of the sessions the same page of
/// `conference_sessions` returns. Readers that must not hold a whole
/// conference's history at once (the account export) read it this way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub after: Option<Uuid>,
    pub limit: Option<u32>,
}

impl Page {
    /// Everything, in one read.
    pub const ALL: Page = Page {
        after: None,
        limit: None,
    };

    pub fn first(limit: u32) -> Page {
        Page {
            after: None,
            limit: Some(limit),
        }
    }
}

/// One live session of a conference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    pub id: Uuid,
    pub started_at: Millis,
    pub ended_at: Option<Millis>,
}

/// One meeting across an account's conferences, with its seats' totals
/// (`Store::account_sessions`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountSessionRow {
    pub id: Uuid,
    pub conference: Uuid,
    /// The conference's account.
    pub owner: Uuid,
    pub title: String,
    pub kind: String,
    pub started_at: Millis,
    pub ended_at: Option<Millis>,
    /// Seats (attendance rows), of which by phone.
    pub seats: i64,
    pub phone_seats: i64,
    /// Whole seconds per seat, summed (a seat still taken counts to the
    /// session's end, else to `now`).
    pub seat_seconds: i64,
}

/// Which meetings `Store::account_sessions` lists: started in
/// `[from, to)`, newest first, after the `before` cursor (a start and an
/// id), at most `limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionQuery {
    pub from: Millis,
    pub to: Millis,
    pub before: Option<(Millis, Uuid)>,
    pub limit: u32,
    pub now: Millis,
    /// Every member's meetings of the account's organisation, not only
    /// the account's (for an admin).
    pub organisation: bool,
}

/// One attendance interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttendanceRow {
    pub participant: Uuid,
    pub session: Uuid,
    pub name: String,
    pub endpoint: String,
    pub phone_sealed: Option<Vec<u8>>,
    pub role: String,
    pub joined_at: Millis,
    pub left_at: Option<Millis>,
    pub left_reason: Option<String>,
}

/// One moderator action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    pub id: Uuid,
    pub session: Uuid,
    pub actor: Uuid,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
    pub at: Millis,
}

/// One shared document's metadata; its bytes live only while its meeting
/// does (docs/media.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentRow {
    pub id: Uuid,
    pub session: Uuid,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub uploaded_by: Uuid,
    pub uploaded_at: Millis,
    pub removed_at: Option<Millis>,
}

/// One chat message; `text` is `None` once deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatRow {
    pub id: Uuid,
    pub session: Uuid,
    pub sender: Uuid,
    pub sender_name: String,
    pub text: Option<String>,
    pub posted_at: Millis,
    pub deleted_at: Option<Millis>,
}

/// A conference's persisted room state, as stored (the server turns it
/// into the room's `Durable`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomStateRow {
    pub locked: bool,
    pub chat: String,
    pub share: String,
    /// The conference's setting, else its account's default.
    pub waiting_room: String,
    pub blocks: Vec<BlockRow>,
}

impl RoomStateRow {
    /// A conference no room has changed yet: open, everyone may do everything.
    pub fn fresh() -> Self {
        Self {
            locked: false,
            chat: "everyone".into(),
            share: "everyone".into(),
            waiting_room: "off".into(),
            blocks: Vec::new(),
        }
    }
}

/// A block in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockRow {
    pub id: Uuid,
    pub name: String,
    pub identities: String,
    pub by: Uuid,
    pub at: Millis,
}

/// One entry of an account's address book: the name a moderator gave a
/// caller's number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactRow {
    /// Keyed hash of the number: the contact's stable id.
    pub number_index: String,
    pub number_sealed: Vec<u8>,
    pub name: String,
    pub updated_at: Millis,
}

/// A webhook endpoint as its account sees it (the secret is never shown
/// again after it was created).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEndpointRow {
    pub id: Uuid,
    pub account_id: conclave_actors::AccountId,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: Millis,
}

/// A delivery the dispatcher has claimed: what to send where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueDelivery {
    pub endpoint: Uuid,
    pub url: String,
    pub secret_sealed: Vec<u8>,
    pub event_seq: i64,
    pub event_id: Uuid,
    pub conference: Uuid,
    pub body: String,
    pub created_at: Millis,
    /// Attempts before this one.
    pub attempts: i32,
    /// The lease this claim holds: the outcome is recorded only while it
    /// is still this one (another node may have taken it since).
    pub lease_until: Millis,
}

/// How one attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered {
        status: u16,
    },
    /// Try again at `retry_at`, or give up (`None`) and keep it to inspect.
    Failed {
        status: Option<u16>,
        error: String,
        retry_at: Option<Millis>,
    },
}

/// One delivery, for the account's inspection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRow {
    pub event_seq: i64,
    pub event_id: Uuid,
    pub conference: Uuid,
    pub kind: String,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: Millis,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub finished_at: Option<Millis>,
}
