//! Prometheus metrics, served at `/metrics`. One registry per server (no
//! globals), so tests that start several servers do not share counters.

use std::sync::{Arc, OnceLock};

use prometheus::{Encoder, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

/// Cheap to clone: every counter is shared.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    http: IntCounterVec,
    resolve: IntCounterVec,
    signin: IntCounterVec,
    gateway: IntCounterVec,
    persist: IntCounterVec,
    sip_invites: IntCounterVec,
    sip_calls: IntGauge,
    /// Read from the media plane's counters at each scrape.
    media: IntGaugeVec,
    phone_mix: IntGaugeVec,
    media_source: Arc<OnceLock<Arc<conclave_media::published::Counters>>>,
    quality: IntGaugeVec,
    tcp: IntGaugeVec,
    subscriptions: IntGaugeVec,
    tcp_source: Arc<OnceLock<TcpSource>>,
}

/// The ICE-TCP port's connections open, frames dropped and connections
/// refused, when it is open.
pub type TcpSource = Box<dyn Fn() -> Option<(usize, u64, u64)> + Send + Sync>;

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, label: &str| {
            let c = IntCounterVec::new(Opts::new(name, help), &[label])
                .expect("constant metric definitions are valid");
            registry
                .register(Box::new(c.clone()))
                .expect("each metric is registered once");
            c
        };
        Self {
            http: counter(
                "conclave_http_responses_total",
                "HTTP responses by status class.",
                "class",
            ),
            resolve: counter(
                "conclave_join_resolutions_total",
                "Join credential checks by outcome (role or refusal code).",
                "outcome",
            ),
            signin: counter(
                "conclave_sign_ins_total",
                "Sign-in attempts by outcome.",
                "outcome",
            ),
            gateway: counter(
                "conclave_gateway_access_codes_total",
                "Access codes typed through the telephony gateway, by outcome: unknown (counted toward the gateway-wide ceiling), ceiling (refused unchecked: the ceiling is reached), throttled (the caller's number or the gateway connection is locked out).",
                "outcome",
            ),
            persist: counter(
                "conclave_persisted_events_total",
                "Room events by persistence outcome: written, rejected (dropped), or a retried batch.",
                "outcome",
            ),
            sip_invites: counter(
                "conclave_sip_invites_total",
                "New SIP calls by outcome: accepted, forbidden (no trunk admits the address, or wrong credentials), challenged (401), rate_limited, full (the call ceiling), not_acceptable (488), anonymous (433).",
                "outcome",
            ),
            sip_calls: {
                let g = IntGauge::new("conclave_sip_calls", "SIP calls up now.")
                    .expect("constant metric definitions are valid");
                registry
                    .register(Box::new(g.clone()))
                    .expect("each metric is registered once");
                g
            },
            media: {
                let g = IntGaugeVec::new(
                    Opts::new(
                        "conclave_media_packets",
                        "RTP packets since start: received from publishers, forwarded (copies to subscribers), duplicate (dropped repeats), gated (held back by mute, removal or the share permission), resent (sent again on a NACK), resend_refused (over a connection's budget), resend_early (sent again less than a round trip before).",
                    ),
                    &["outcome"],
                )
                .expect("constant metric definitions are valid");
                registry
                    .register(Box::new(g.clone()))
                    .expect("each metric is registered once");
                g
            },
            phone_mix: {
                let g = IntGaugeVec::new(
                    Opts::new(
                        "conclave_phone_mix",
                        "Phone callers' mix since start, over every room: ticks (one per room every 20 ms while anyone calls in) and the CPU time they took in microseconds.",
                    ),
                    &["measure"],
                )
                .expect("constant metric definitions are valid");
                registry
                    .register(Box::new(g.clone()))
                    .expect("each metric is registered once");
                g
            },
            media_source: Arc::default(),
            quality: {
                let g = IntGaugeVec::new(
                    Opts::new(
                        "conclave_media_quality",
                        "What subscribers' clients said back since start, over every room: nacks (NACK packets), keyframe_requests (PLI, FIR), estimates (a client's REMB, or the server's own estimate after each transport-wide feedback) and estimates_under_500k, estimates_under_2m, estimates_over_2m by size; layer_switches (moves of a subscription to another simulcast layer); reports_loss_under_3pct, reports_loss_under_10pct, reports_loss_over_10pct, reports_rtt_under_300ms, reports_rtt_under_600ms, reports_rtt_over_600ms (receiver reports by the loss and round trip they tell).",
                    ),
                    &["measure"],
                )
                .expect("constant metric definitions are valid");
                registry
                    .register(Box::new(g.clone()))
                    .expect("each metric is registered once");
                g
            },
            tcp: {
                let g = IntGaugeVec::new(
                    Opts::new(
                        "conclave_media_tcp",
                        "The ICE-TCP port: open (connections now), dropped (frames dropped on full queues since start), refused (connections closed at the cap since start).",
                    ),
                    &["measure"],
                )
                .expect("constant metric definitions are valid");
                registry
                    .register(Box::new(g.clone()))
                    .expect("each metric is registered once");
                g
            },
            tcp_source: Arc::default(),
            subscriptions: {
                let g = IntGaugeVec::new(
                    Opts::new(
                        "conclave_media_subscriptions",
                        "Video subscriptions now, over every room, by what each is sent: hidden (its tile is), paused (its bandwidth has no room), smallest, middle or largest (of a simulcast track's layers), single (a track without simulcast). Counted every 2 s.",
                    ),
                    &["layer"],
                )
                .expect("constant metric definitions are valid");
                registry
                    .register(Box::new(g.clone()))
                    .expect("each metric is registered once");
                g
            },
            registry,
        }
    }

    /// Where the media figures come from (once, at start-up).
    pub fn media_from(&self, counters: Arc<conclave_media::published::Counters>) {
        let _ = self.media_source.set(counters);
    }

    /// Where the ICE-TCP port's figures come from (once, at start-up).
    pub fn tcp_from(&self, source: TcpSource) {
        let _ = self.tcp_source.set(source);
    }

    pub fn http(&self, status: u16) {
        let class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.http.with_label_values(&[class]).inc();
    }

    pub fn resolve(&self, outcome: &str) {
        self.resolve.with_label_values(&[outcome]).inc();
    }

    pub fn signin(&self, outcome: &str) {
        self.signin.with_label_values(&[outcome]).inc();
    }

    pub fn sip_invite(&self, outcome: &str) {
        self.sip_invites.with_label_values(&[outcome]).inc();
    }

    pub fn sip_calls(&self, calls: usize) {
        self.sip_calls.set(i64::try_from(calls).unwrap_or(i64::MAX));
    }

    pub fn gateway_code(&self, outcome: &str) {
        self.gateway.with_label_values(&[outcome]).inc();
    }

    pub fn persisted(&self, events: usize) {
        self.persist
            .with_label_values(&["written"])
            .inc_by(events as u64);
    }

    pub fn persist_rejected(&self) {
        self.persist.with_label_values(&["rejected"]).inc();
    }

    pub fn persist_retry(&self) {
        self.persist.with_label_values(&["retry"]).inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        if let Some(c) = self.media_source.get() {
            use std::sync::atomic::Ordering::Relaxed;
            for (label, v) in [
                ("received", &c.received),
                ("forwarded", &c.forwarded),
                ("duplicate", &c.duplicates),
                ("gated", &c.gated),
                ("resent", &c.resent),
                ("resend_refused", &c.resend_refused),
                ("resend_early", &c.resend_early),
            ] {
                self.media
                    .with_label_values(&[label])
                    .set(v.load(Relaxed) as i64);
            }
            for (label, v) in [
                ("nacks", &c.nacks),
                ("keyframe_requests", &c.keyframe_requests),
                ("estimates", &c.estimates),
                ("estimates_under_500k", &c.estimates_low),
                ("estimates_under_2m", &c.estimates_mid),
                ("estimates_over_2m", &c.estimates_high),
                ("layer_switches", &c.layer_switches),
                ("reports_loss_under_3pct", &c.reports_loss_low),
                ("reports_loss_under_10pct", &c.reports_loss_mid),
                ("reports_loss_over_10pct", &c.reports_loss_high),
                ("reports_rtt_under_300ms", &c.reports_rtt_low),
                ("reports_rtt_under_600ms", &c.reports_rtt_mid),
                ("reports_rtt_over_600ms", &c.reports_rtt_high),
            ] {
                self.quality
                    .with_label_values(&[label])
                    .set(v.load(Relaxed) as i64);
            }
            for (label, v) in conclave_media::quality::LAYER_STATES
                .iter()
                .zip(&c.subscriptions)
            {
                self.subscriptions
                    .with_label_values(&[label])
                    .set(v.load(Relaxed));
            }
            for (label, v) in [
                ("ticks", &c.phone_mix_ticks),
                ("cpu_microseconds", &c.phone_mix_cpu_us),
            ] {
                self.phone_mix
                    .with_label_values(&[label])
                    .set(v.load(Relaxed) as i64);
            }
        }
        if let Some((open, dropped, refused)) = self.tcp_source.get().and_then(|f| f()) {
            for (label, v) in [
                ("open", open as u64),
                ("dropped", dropped),
                ("refused", refused),
            ] {
                self.tcp
                    .with_label_values(&[label])
                    .set(i64::try_from(v).unwrap_or(i64::MAX));
            }
        }
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("encoding counters into a Vec cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
