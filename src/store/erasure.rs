//! Erasing an account (docs/privacy.md): everything it owns goes in one
//! transaction. Every table hangs off `accounts` by a cascading foreign key
//! but the webhook outbox's events, which name only their conference, so
//! they are deleted first.

use async_trait::async_trait;
use conclave_actors::{AccountId, ConferenceId};

use super::StoreResult;

#[async_trait]
pub trait Erasure: Send + Sync + 'static {
    /// Deletes the account and all it owns; answers its conferences (their
    /// files on disk are the caller's to delete). `NotFound` if it is gone.
    async fn delete_account(&self, account: AccountId) -> StoreResult<Vec<ConferenceId>>;
}
