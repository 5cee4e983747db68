//! How long `resolve()` takes: the check every join runs. Three cases, on
//! the embedded SQLite store through the real service code:
//! - access code alone;
//! - access code + security code (one keyed hash more);
//! - access code + moderator PIN (one argon2id verification, m=19 MiB, t=2);
//! - and two refusals that must cost about the same: an unknown access code
//!   and a wrong security code.
//!
//! Throttling is set high so the benchmark measures the work, not lockouts.
//! Run with `cargo bench --bench resolve`; figures go to docs/performance.md.

use std::sync::Arc;

use conclave::clock::SystemClock;
use conclave::codes::Credentials;
use conclave::config::Config;
use conclave::secrets::SecretKey;
use conclave::throttle::ThrottleKey;
use criterion::{criterion_group, criterion_main, Criterion};

fn resolve(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = Config {
        data_dir: dir.path().to_owned(),
        hmac_key: Some(SecretKey::generate()),
        encryption_key: Some(SecretKey::generate()),
        ..Config::default()
    };
    config.join_throttle.max_failures = u32::MAX;
    // A short window keeps the failure lists of the refusal cases small.
    config.join_throttle.window_secs = 1;
    let (services, plain, secured, pin) = rt.block_on(async {
        let services = conclave::server::build_services(&config, Arc::new(SystemClock))
            .await
            .expect("services start");
        let a = services
            .sign_up("plain@example.org", "correct horse battery", "A")
            .await
            .expect("sign up");
        let b = services
            .sign_up("secured@example.org", "correct horse battery", "B")
            .await
            .expect("sign up");
        services
            .set_default_security_code(&b.account, Some("246810"))
            .await
            .expect("default security code");
        (
            services,
            a.line.access_code,
            b.line.access_code,
            a.moderator_pin,
        )
    });
    let refusals = [
        (
            "refused/unknown_access_code",
            Credentials {
                access_code: "0000000000".into(),
                security_code: Some("135790".into()),
                ..Default::default()
            },
        ),
        (
            "refused/wrong_security_code",
            Credentials {
                access_code: secured.clone(),
                security_code: Some("135790".into()),
                ..Default::default()
            },
        ),
    ];
    let cases = [
        (
            "access_code",
            Credentials {
                access_code: plain.clone(),
                ..Default::default()
            },
        ),
        (
            "access_code+security_code",
            Credentials {
                access_code: secured.clone(),
                security_code: Some("246810".into()),
                ..Default::default()
            },
        ),
        (
            "access_code+moderator_pin",
            Credentials {
                access_code: plain,
                moderator_pin: Some(pin),
                ..Default::default()
            },
        ),
    ];
    let mut group = c.benchmark_group("resolve");
    for (name, creds) in cases {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                services
                    .resolve(&creds, ThrottleKey::Address("127.0.0.1".into()))
                    .await
                    .expect("valid credentials are admitted")
            })
        });
    }
    for (name, creds) in refusals {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                services
                    .resolve(&creds, ThrottleKey::Address("127.0.0.1".into()))
                    .await
                    .expect_err("wrong credentials are refused")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, resolve);
criterion_main!(benches);
