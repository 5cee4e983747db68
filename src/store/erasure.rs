//! Erasing an account (docs/privacy.md): everything it owns goes in one
//! transaction. Every table hangs off `accounts` by a cascading foreign key
//! but the webhook outbox's events, which name only their conference, so
//! they are deleted first.

use async_trait::async_trait;
use conclave_actors::room_state::Millis;
use conclave_actors::{AccountId, ConferenceId};

use super::StoreResult;

#[async_trait]
pub trait Erasure: Send + Sync + 'static {
    /// Deletes the account and all it owns; answers its conferences (their
    /// files on disk are the caller's to delete). `NotFound` if it is gone.
    async fn delete_account(
        &self,
        account: AccountId,
        at: Millis,
    ) -> StoreResult<Vec<ConferenceId>>;
    /// Replaces these participants, in the account's conferences only, by
    /// a tombstone: their attendance keeps its times under the name given
    /// with each (as stored: sealed with its summary's key) and no number,
    /// their chat messages keep their place with no text. Answers (seats,
    /// messages) changed.
    async fn erase_participants(
        &self,
        account: AccountId,
        participants: &[(uuid::Uuid, String)],
        at: Millis,
    ) -> StoreResult<(u64, u64)>;
}
