//! The `conclave` binary: parse the command line, then serve or migrate.

use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use conclave::cli::{AuditCommand, Cli, Command, KeysCommand};
use conclave::clock::SystemClock;
use conclave::config::Config;

#[actix_web::main]
async fn main() -> ExitCode {
    release_large_blocks();
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref(), cli.overrides()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("conclave: {e}");
            return ExitCode::from(2);
        }
    };
    conclave::telemetry::init(config.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => conclave::server::build_services(&config, Arc::new(SystemClock))
            .await
            .map(|_| println!("migrations are up to date")),
        Command::Audit(AuditCommand::Verify) => return verify(&config).await,
        Command::Keys(KeysCommand::Rotate { new_key_file }) => {
            rotate(&config, new_key_file.as_deref()).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "conclave failed");
            eprintln!("conclave: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `conclave audit verify`: 0 when every chain is intact, 1 when one is
/// broken, 2 when the store cannot be read.
async fn verify(config: &Config) -> ExitCode {
    let checked = async {
        let store = conclave::store::open(config).await?;
        let key = conclave::store::chain_key(config)?;
        conclave::audit::verify(store.as_ref(), &key).await
    };
    match checked.await {
        Ok(reports) => {
            for r in &reports {
                println!("{r}");
            }
            let broken = reports.iter().filter(|r| r.broken.is_some()).count();
            println!("{} chains checked, {broken} broken", reports.len());
            if broken == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("conclave: {e}");
            ExitCode::from(2)
        }
    }
}

/// `conclave keys rotate`: prints what it re-sealed, never a key.
async fn rotate(
    config: &Config,
    new_key_file: Option<&std::path::Path>,
) -> Result<(), conclave::RunError> {
    let services = conclave::server::build_services(config, Arc::new(SystemClock)).await?;
    let done = conclave::key_rotation::rotate(
        services.store.as_ref(),
        &services.secrets.encryption_key,
        &config.data_dir,
        config.encryption_key.is_none(),
        new_key_file,
    )
    .await?;
    println!(
        "re-sealed {} summary keys and {} other values under the new encryption key",
        done.summary_keys, done.values
    );
    if config.encryption_key.is_some() {
        println!(
            "now set encryption_key in the configuration to the new key, then start the servers"
        );
    }
    Ok(())
}

async fn serve(config: Config) -> Result<(), conclave::RunError> {
    let listener = TcpListener::bind(config.bind)?;
    conclave::run(listener, config, shutdown_signal()).await
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler succeeds on Unix");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Every argon2 check allocates 19 MiB. glibc raises its mmap threshold
/// after such a block is freed, and from then on keeps blocks of that size
/// in its per-thread arenas instead of returning them, which left hundreds
/// of MiB resident after a burst of sign-ins (docs/performance.md). A fixed
/// threshold keeps large blocks mmapped, so they go back when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_large_blocks() {
    // SAFETY: mallopt only changes allocator settings; it is called once,
    // at start-up, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_large_blocks() {}
