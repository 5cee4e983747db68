//! Prometheus metrics, served at `/metrics`. One registry per server (no
//! globals), so tests that start several servers do not share counters.

use prometheus::{Encoder, IntCounterVec, Opts, Registry, TextEncoder};

/// Cheap to clone: every counter is shared.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    http: IntCounterVec,
    resolve: IntCounterVec,
    signin: IntCounterVec,
    persist: IntCounterVec,
}

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
            persist: counter(
                "conclave_persisted_events_total",
                "Room events by persistence outcome: written, rejected (dropped), or a retried batch.",
                "outcome",
            ),
            registry,
        }
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
