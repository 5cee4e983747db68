//! What encryption at rest reads and rewrites in the store
//! (src/summary_keys.rs, docs/encryption.md): the summaries' wrapped keys,
//! the key check, and every value sealed by the server's key, for key
//! rotation.

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use super::StoreResult;

/// What a value sealed by the server's key is, for re-sealing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sealed {
    /// A summary's data key, bound to the summary.
    SummaryKey(Uuid),
    /// The key check (`key_checks`).
    Check,
    /// A phone number, a webhook secret: sealed without a binding.
    Value,
}

/// Seals a value again under the new key; `None` when it does not open
/// with the current one (then nothing is changed).
pub type Resealer = dyn Fn(Sealed, &[u8]) -> Option<Vec<u8>> + Send + Sync;

/// How many values a rotation re-sealed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Resealed {
    pub summary_keys: u64,
    pub values: u64,
}

#[async_trait]
pub trait SealedStore: Send + Sync + 'static {
    /// The wrapped keys of those of `sessions` that have one.
    async fn session_keys(&self, sessions: Vec<Uuid>) -> StoreResult<Vec<(Uuid, Vec<u8>)>>;
    /// The stored key check; `fresh` is stored first when there is none.
    async fn key_check(&self, fresh: Vec<u8>) -> StoreResult<Vec<u8>>;
    /// Re-seals, in one transaction, every value sealed by the server's
    /// key: summary keys, numbers of summaries written before encryption
    /// at rest, the address book's numbers and names, blocks' names,
    /// webhook secrets and the key check. `Conflict("encryption_key")`, and nothing changed, when one
    /// does not open.
    async fn reseal(&self, with: Arc<Resealer>) -> StoreResult<Resealed>;
}

/// The columns sealed by the server's key with no binding: the table, the
/// column and which rows. Numbers of summaries that have their own key are
/// sealed by that key, not the server's, and are left alone.
pub(super) const VALUES: &[(&str, &str, &str)] = &[
    (
        "attendance",
        "phone_sealed",
        "phone_sealed IS NOT NULL AND session_id IN (SELECT id FROM conference_sessions WHERE data_key IS NULL)",
    ),
    ("contacts", "number_sealed", "number_sealed IS NOT NULL"),
    ("webhook_endpoints", "secret_sealed", "secret_sealed IS NOT NULL"),
];

/// Text columns sealed by the server's key (base64, as
/// `summary_keys::seal_text` writes them): account-level names, which
/// outlive any summary.
pub(super) const TEXT_VALUES: &[(&str, &str)] = &[("contacts", "name"), ("room_blocks", "name")];

/// A sealed name re-sealed by `with`; `None` for one that does not open,
/// a name written in clear before names were sealed, left as it is.
pub(super) fn reseal_text(with: &Resealer, old: &str) -> Option<String> {
    use base64::Engine;
    let sealed = crate::summary_keys::B64.decode(old).ok()?;
    with(Sealed::Value, &sealed).map(|new| crate::summary_keys::B64.encode(new))
}
