//! What the retention job reads and deletes (src/retention.rs): each
//! organisation's retention settings, where a conference's expired
//! summaries end, and chat past its age.

use async_trait::async_trait;
use conclave_actors::room_state::Millis;
use conclave_actors::{AccountId, ConferenceId};
use uuid::Uuid;

use super::StoreResult;

/// An organisation's retention, in days; `None` keeps until deleted by hand.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
pub struct RetentionDays {
    /// Summaries (a meeting's attendance, audit, chat, documents and
    /// recordings) older than this many days are deleted.
    pub summary_days: Option<u16>,
    /// Chat messages older than this many days are deleted, even from
    /// summaries kept longer.
    pub chat_days: Option<u16>,
}

#[async_trait]
pub trait Retention: Send + Sync + 'static {
    async fn retention(&self, organisation: Uuid) -> StoreResult<RetentionDays>;
    async fn set_retention(&self, organisation: Uuid, days: RetentionDays) -> StoreResult<()>;
    /// Every account whose organisation has a retention set, with it.
    async fn retention_accounts(&self) -> StoreResult<Vec<(AccountId, RetentionDays)>>;
    /// Where the conference's expired summaries end: deleting the sessions
    /// that started before the answer deletes exactly those that ended
    /// before `cutoff` (a session still live, or one that ended after it,
    /// and every later one stay). `None` when no session has expired.
    async fn expired_before(
        &self,
        conference: ConferenceId,
        cutoff: Millis,
    ) -> StoreResult<Option<Millis>>;
    /// Deletes the account's chat messages posted before `cutoff`;
    /// answers how many.
    async fn delete_chat_before(&self, account: AccountId, cutoff: Millis) -> StoreResult<u64>;
}
