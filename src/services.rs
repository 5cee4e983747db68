//! The state every request shares: the store, the argon2 pool, the
//! throttles, the clock and the server secrets. Account operations live in
//! [`crate::accounts`], conference-code operations in [`crate::codes`]; both
//! are `impl Services` blocks so the HTTP layer and (later) the room engine
//! call the same methods.

use std::sync::Arc;

use chrono::Duration;

use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::passwords::Hasher;
use crate::secrets::ServerSecrets;
use crate::store::SharedStore;
use crate::throttle::Throttle;

pub struct Services {
    pub store: SharedStore,
    pub hasher: Hasher,
    pub clock: Arc<dyn Clock>,
    pub secrets: ServerSecrets,
    pub signin_throttle: Throttle,
    pub join_throttle: Throttle,
    /// Unknown access codes through the telephony gateway, all calls
    /// together (src/phone/guard.rs).
    pub gateway_throttle: Throttle,
    pub session_ttl: Duration,
    pub scheduled_grace: Duration,
    pub metrics: Metrics,
    /// Code lookups to fall back on while the store is unreachable.
    pub last_known: crate::last_known::LastKnownCodes,
    /// Signs and checks join tokens (docs/tokens.md).
    pub join_tokens: crate::join_tokens::JoinTokens,
    /// Where webhook endpoints may point, and how many an account has.
    pub webhooks: crate::webhooks::WebhooksConfig,
    /// The keys of the summaries under way here (docs/encryption.md).
    pub summary_keys: Arc<crate::summary_keys::SummaryKeys>,
}

impl Services {
    /// Opens the sealed columns of history for one reader.
    pub fn unsealer(&self) -> crate::summary_keys::Unsealer {
        crate::summary_keys::Unsealer::new(self.store.clone(), self.secrets.encryption_key.clone())
    }

    /// Appends a link to the account's audit chain for what is not a
    /// moderator action (a deletion, an erasure, an export); `detail` holds
    /// counts only, never names or numbers.
    pub async fn chain(
        &self,
        account: conclave_actors::AccountId,
        kind: &'static str,
        detail: serde_json::Value,
    ) -> Result<(), crate::error::AppError> {
        let link = crate::store::Record::Chained {
            id: uuid::Uuid::new_v4(),
            of: crate::store::ChainOf::Account(account.0),
            kind,
            detail: detail.to_string(),
            at: self.clock.now().timestamp_millis(),
        };
        Ok(self.store.write_records(&[link]).await?)
    }

    pub fn new(
        config: &Config,
        store: SharedStore,
        secrets: ServerSecrets,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            hasher: Hasher::new(&config.hashing),
            clock,
            join_tokens: crate::join_tokens::JoinTokens::new(&secrets.hmac_key),
            summary_keys: crate::summary_keys::SummaryKeys::new(secrets.encryption_key.clone()),
            secrets,
            signin_throttle: Throttle::new(&config.signin_throttle),
            join_throttle: Throttle::new(&config.join_throttle),
            gateway_throttle: Throttle::new(&config.gateway_throttle),
            session_ttl: Duration::hours(config.session_ttl_hours),
            scheduled_grace: Duration::minutes(config.scheduled_grace_minutes),
            metrics: Metrics::new(),
            last_known: Default::default(),
            webhooks: config.webhooks.clone(),
        }
    }
}
