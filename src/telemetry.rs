//! Log set-up: human-readable lines by default, JSON with `--log-format
//! json`; the filter comes from `CONCLAVE_LOG` (or `RUST_LOG`), default `info`.
//!
//! Whatever that filter says, the database drivers log nothing more verbose
//! than INFO: `tokio_postgres` writes every statement's parameters at DEBUG
//! (e-mail addresses, codes typed by callers, chat text, password hashes),
//! and the `log` crate's records, bridged into `tracing`, pass through the
//! same filter. A second filter beside the operator's, rather than extra
//! directives in it, so that no directive (`tokio_postgres::query=trace`)
//! can be more specific and win.

use tracing::{Level, Metadata};
use tracing_subscriber::filter::{filter_fn, FilterExt};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer, Registry};

use crate::config::LogFormat;

/// Crates whose debug and trace output may carry stored values.
const QUIET_CRATES: &[&str] = &[
    "tokio_postgres",
    "postgres_protocol",
    "postgres_types",
    "deadpool_postgres",
    "rusqlite",
];

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("CONCLAVE_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let output: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Human => fmt::layer().boxed(),
        LogFormat::Json => fmt::layer().json().flatten_event(true).boxed(),
    };
    // `init` also installs the `log` bridge, whose records this filter sees.
    tracing_subscriber::registry()
        .with(output.with_filter(filter.and(filter_fn(allowed))))
        .init();
}

/// Whether an event or span may reach the output at all.
fn allowed(meta: &Metadata<'_>) -> bool {
    *meta.level() <= Level::INFO || !QUIET_CRATES.iter().any(|c| within(meta.target(), c))
}

/// `target` is the crate `krate` or one of its modules.
fn within(target: &str, krate: &str) -> bool {
    target
        .strip_prefix(krate)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

#[cfg(test)]
mod tests {
    use super::within;

    #[test]
    fn quiet_crates_match_by_module_path() {
        assert!(within("tokio_postgres", "tokio_postgres"));
        assert!(within("tokio_postgres::query", "tokio_postgres"));
        assert!(!within("tokio_postgres_extra", "tokio_postgres"));
        assert!(!within("conclave::store", "tokio_postgres"));
    }
}
