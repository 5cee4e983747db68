//! The `Dispatcher` actor: sends what the outbox holds. It claims the due
//! deliveries (each the oldest pending one of its endpoint and conference,
//! leased so no other node sends it meanwhile), posts them signed, and
//! records each outcome: delivered, to be retried after an exponential
//! backoff, or failed for good and kept for the account to inspect and
//! retry. Rooms never wait for it: they only write the outbox.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::watch;

use super::client::{Client, Failure, Post};
use super::guard::Policy;
use super::signing::sign;
use crate::clock::Clock;
use crate::secrets::SecretKey;
use crate::store::{DeliveryOutcome, DueDelivery, SharedStore};

/// The dispatcher's settings (`[webhooks]` in the configuration).
#[derive(Clone, Debug)]
pub struct Settings {
    pub policy: Policy,
    /// One attempt, connection included.
    pub timeout: Duration,
    pub first_retry: Duration,
    pub max_retry: Duration,
    pub max_attempts: u32,
    pub max_in_flight: usize,
    pub poll: Duration,
    /// Finished deliveries are forgotten after this long.
    pub keep: Duration,
}

pub struct Dispatcher {
    store: SharedStore,
    key: SecretKey,
    clock: Arc<dyn Clock>,
    settings: Settings,
    client: Rc<Client>,
    in_flight: usize,
    claiming: bool,
    draining: bool,
    /// Deliveries under way, for a drain to wait on.
    busy: watch::Sender<usize>,
    /// When the store last failed a claim, for one log line per outage.
    failing: bool,
}

impl Dispatcher {
    pub fn new(
        store: SharedStore,
        key: SecretKey,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Self {
        let client = Rc::new(Client::new(settings.policy));
        Self {
            store,
            key,
            clock,
            settings,
            client,
            in_flight: 0,
            claiming: false,
            draining: false,
            busy: watch::channel(0).0,
            failing: false,
        }
    }

    fn now(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// The lease outlasts an attempt, so only a node that died mid-attempt
    /// leaves a delivery for another to send again.
    fn lease(&self) -> i64 {
        i64::try_from(self.settings.timeout.saturating_mul(3).as_millis()).unwrap_or(i64::MAX / 4)
    }

    /// A claim under way counts as busy, so a drain that begins meanwhile
    /// waits for what it brings back to be sent and recorded.
    fn set_busy(&self) {
        self.busy
            .send_replace(self.in_flight + usize::from(self.claiming));
    }

    fn claim(&mut self, ctx: &mut Context<Self>) {
        let free = self.settings.max_in_flight.saturating_sub(self.in_flight);
        if self.claiming || self.draining || free == 0 {
            return;
        }
        self.claiming = true;
        self.set_busy();
        let store = self.store.clone();
        let (now, lease) = (self.now(), self.lease());
        ctx.spawn(
            async move { store.claim_deliveries(now, now + lease, free).await }
                .into_actor(self)
                .map(|result, this, ctx| {
                    this.claiming = false;
                    match result {
                        Ok(due) => {
                            this.failing = false;
                            for d in due {
                                this.send(d, ctx);
                            }
                            this.set_busy();
                        }
                        Err(e) if !this.failing => {
                            this.failing = true;
                            tracing::warn!(error = %e, "cannot read the webhook outbox; trying again");
                        }
                        Err(_) => {}
                    }
                    this.set_busy();
                }),
        );
    }

    fn send(&mut self, d: DueDelivery, ctx: &mut Context<Self>) {
        self.in_flight += 1;
        self.set_busy();
        let secret = crate::crypto::open(&self.key, &d.secret_sealed)
            .and_then(|s| String::from_utf8(s).ok());
        let signed = secret
            .ok_or("the endpoint's secret cannot be read")
            .and_then(|secret| {
                let id = d.event_id.to_string();
                let ts = self.clock.now().timestamp();
                let signature = sign(&secret, &id, ts, &d.body)
                    .ok_or("the endpoint's secret cannot be read")?;
                Ok([
                    ("webhook-id", id),
                    ("webhook-timestamp", ts.to_string()),
                    ("webhook-signature", signature),
                ])
            });
        let (client, url, body, timeout) = (
            self.client.clone(),
            d.url.clone(),
            d.body.clone(),
            self.settings.timeout,
        );
        let attempt = async move {
            let headers = signed.map_err(|why| (None, why.to_owned()))?;
            let post = Post {
                url: &url,
                headers: &headers,
                body,
            };
            client.send(post, timeout).await.map_err(|f| {
                let status = match f {
                    Failure::Status(s) => Some(s),
                    Failure::Other(_) => None,
                };
                (status, f.describe())
            })
        };
        ctx.spawn(attempt.into_actor(self).then(move |result, this, _| {
            let now = this.now();
            let outcome = match result {
                Ok(status) => DeliveryOutcome::Delivered { status },
                Err((status, error)) => {
                    tracing::info!(endpoint = %d.endpoint, event = %d.event_id, attempts = d.attempts + 1, %error, "webhook delivery failed");
                    DeliveryOutcome::Failed {
                        status,
                        error,
                        retry_at: retry_at(&this.settings, d.attempts, now),
                    }
                }
            };
            let store = this.store.clone();
            async move {
                if let Err(e) = store
                    .finish_delivery(&d, &outcome, now)
                    .await
                {
                    // The lease runs out and the delivery is sent again: the
                    // receiver sees the same webhook-id twice.
                    tracing::warn!(error = %e, "cannot record a webhook delivery");
                }
            }
            .into_actor(this)
            .map(|(), this, ctx| {
                this.in_flight -= 1;
                this.set_busy();
                this.claim(ctx);
            })
        }));
    }

    fn prune(&mut self, ctx: &mut Context<Self>) {
        let store = self.store.clone();
        let before = self.now() - self.settings.keep.as_millis() as i64;
        ctx.spawn(
            async move {
                match store.prune_webhooks(before).await {
                    Ok(n) if n > 0 => {
                        tracing::info!(deliveries = n, "old webhook deliveries forgotten")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot prune webhook deliveries"),
                }
            }
            .into_actor(self),
        );
    }
}

/// When to try again after `attempts` earlier failures and this one;
/// `None`: give up, and keep the delivery to inspect.
fn retry_at(settings: &Settings, attempts: i32, now: i64) -> Option<i64> {
    let done = u32::try_from(attempts).unwrap_or(0) + 1;
    if done >= settings.max_attempts {
        return None;
    }
    let wait = settings
        .first_retry
        .saturating_mul(1u32.checked_shl(done - 1).unwrap_or(u32::MAX))
        .min(settings.max_retry);
    Some(now + wait.as_millis() as i64)
}

impl Actor for Dispatcher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.settings.poll, |this, ctx| this.claim(ctx));
        ctx.run_interval(Duration::from_secs(3600), |this, ctx| this.prune(ctx));
        self.prune(ctx);
        self.claim(ctx);
    }
}

/// Stop claiming and wait (at most the given time) for deliveries under
/// way, so a graceful restart sends nothing twice.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Drain(pub Duration);

impl Handler<Drain> for Dispatcher {
    type Result = ResponseFuture<bool>;

    fn handle(&mut self, Drain(within): Drain, _: &mut Context<Self>) -> Self::Result {
        self.draining = true;
        let mut busy = self.busy.subscribe();
        Box::pin(async move {
            tokio::time::timeout(within, busy.wait_for(|n| *n == 0))
                .await
                .is_ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_a_cap_then_stop() {
        let settings = Settings {
            policy: Policy::default(),
            timeout: Duration::from_secs(10),
            first_retry: Duration::from_secs(5),
            max_retry: Duration::from_secs(60),
            max_attempts: 6,
            max_in_flight: 1,
            poll: Duration::from_secs(1),
            keep: Duration::from_secs(1),
        };
        let waits: Vec<_> = (0..6)
            .map(|a| retry_at(&settings, a, 0).map(|t| t / 1000))
            .collect();
        assert_eq!(
            waits,
            [Some(5), Some(10), Some(20), Some(40), Some(60), None]
        );
    }
}
