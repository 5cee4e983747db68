//! The webhook outbox's side of the store (docs/webhooks.md): endpoints
//! per account, and the deliveries the dispatcher claims, finishes and
//! shows. Events themselves are written with the room history
//! ([`Record::Webhook`](super::Record::Webhook)).

use async_trait::async_trait;
use conclave_actors::room_state::Millis;
use conclave_actors::AccountId;
use uuid::Uuid;

use super::records::{DeliveryOutcome, DeliveryRow, DueDelivery, WebhookEndpointRow};
use super::StoreResult;

/// What the deliveries a give-up takes with it say.
pub const GAVE_UP: &str = "not sent: an earlier delivery to this endpoint failed for good";

/// The events column as stored: `,a,b,` so that one substring test finds
/// one type and never a prefix of another.
pub fn events_column(events: &[String]) -> String {
    format!(",{},", events.join(","))
}

pub fn parse_events_column(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect()
}

#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    async fn insert_webhook_endpoint(
        &self,
        row: &WebhookEndpointRow,
        secret_sealed: &[u8],
    ) -> StoreResult<()>;
    /// The account's endpoints in creation order (deleted ones left out).
    async fn webhook_endpoints(&self, account: AccountId) -> StoreResult<Vec<WebhookEndpointRow>>;
    /// Stops every delivery to it; `NotFound` unless the account owns it.
    async fn delete_webhook_endpoint(
        &self,
        account: AccountId,
        id: Uuid,
        at: Millis,
    ) -> StoreResult<()>;
    /// Leases (until `lease_until`) at most `limit` deliveries due at
    /// `now`, each the oldest pending one of its endpoint and conference,
    /// so a conference's events go out one after another, in order.
    async fn claim_deliveries(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: usize,
    ) -> StoreResult<Vec<DueDelivery>>;
    /// Records how an attempt ended, if the claim's lease is still held.
    /// A delivery given up on takes the endpoint's other waiting ones with
    /// it (the endpoint is down: they would each wait hours in turn).
    async fn finish_delivery(
        &self,
        claimed: &DueDelivery,
        outcome: &DeliveryOutcome,
        now: Millis,
    ) -> StoreResult<()>;
    /// The endpoint's latest deliveries, newest first; `NotFound` unless
    /// the account owns the endpoint.
    async fn webhook_deliveries(
        &self,
        account: AccountId,
        endpoint: Uuid,
        limit: usize,
    ) -> StoreResult<Vec<DeliveryRow>>;
    /// A failed delivery is tried again from now.
    async fn retry_delivery(
        &self,
        account: AccountId,
        endpoint: Uuid,
        event_seq: i64,
        now: Millis,
    ) -> StoreResult<()>;
    /// Forgets deliveries finished before `before`, and events nobody
    /// waits for any more; answers how many deliveries went.
    async fn prune_webhooks(&self, before: Millis) -> StoreResult<u64>;
}
