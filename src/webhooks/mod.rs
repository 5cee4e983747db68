//! Webhooks (docs/webhooks.md): what happened in an account's conferences,
//! told to the HTTPS endpoints it configured. The events are written to an
//! outbox with the room history they describe ([`events`]), and the
//! [`dispatcher`] sends them, signed ([`signing`]), in order per endpoint
//! and conference, only to addresses the [`guard`] allows.

pub mod client;
pub mod dispatcher;
pub mod events;
pub mod guard;
pub mod signing;

/// Every event type an endpoint can subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    "conference.started",
    "conference.ended",
    "participant.joined",
    "participant.left",
    "moderator.action",
    "waiting_room.entered",
    "recording.ready",
    "summary.deleted",
];

/// `[webhooks]` in the configuration file (docs/operations.md).
#[derive(Clone, Debug, serde::Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Off: nothing is sent (the outbox still fills; it is sent when on).
    pub enabled: bool,
    /// `http://` endpoints (for a receiver on a trusted network).
    pub allow_http: bool,
    /// Loopback, private and link-local addresses: refused unless set.
    pub allow_private_addresses: bool,
    /// One attempt, connection included.
    pub timeout_secs: u64,
    /// The first retry waits this long; each next one twice as long.
    pub first_retry_ms: u64,
    pub max_retry_ms: u64,
    /// Attempts before a delivery is kept as failed.
    pub max_attempts: u32,
    /// Requests under way at once, all endpoints together.
    pub max_in_flight: usize,
    /// How often the outbox is read.
    pub poll_ms: u64,
    /// Days finished deliveries are kept for inspection.
    pub keep_days: u64,
    pub max_endpoints_per_account: usize,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_http: false,
            allow_private_addresses: false,
            timeout_secs: 10,
            first_retry_ms: 5_000,
            max_retry_ms: 3_600_000,
            max_attempts: 16,
            max_in_flight: 32,
            poll_ms: 500,
            keep_days: 7,
            max_endpoints_per_account: 10,
        }
    }
}

impl WebhooksConfig {
    pub fn policy(&self) -> guard::Policy {
        guard::Policy {
            allow_http: self.allow_http,
            allow_private: self.allow_private_addresses,
        }
    }

    pub fn settings(&self) -> dispatcher::Settings {
        use std::time::Duration;
        dispatcher::Settings {
            policy: self.policy(),
            timeout: Duration::from_secs(self.timeout_secs.clamp(1, 3600)),
            first_retry: Duration::from_millis(self.first_retry_ms.max(1)),
            max_retry: Duration::from_millis(self.max_retry_ms.max(self.first_retry_ms.max(1))),
            max_attempts: self.max_attempts.max(1),
            max_in_flight: self.max_in_flight.max(1),
            poll: Duration::from_millis(self.poll_ms.max(10)),
            keep: Duration::from_secs(self.keep_days.saturating_mul(86_400)),
        }
    }
}
