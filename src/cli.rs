//! The command line. Every option can also come from the environment
//! (shown in `--help`) or a TOML file (`--config`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{LogFormat, Overrides};

/// Conclave: a self-hostable conference room engine. Moderators decide who
/// is in the room and what is shared.
#[derive(Parser, Debug)]
#[command(name = "conclave", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// TOML configuration file (values given here or in the environment win).
    #[arg(
        short,
        long,
        global = true,
        env = "CONCLAVE_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    /// Address to serve HTTP and WebSocket on [default: 127.0.0.1:8080].
    #[arg(long, global = true, env = "CONCLAVE_BIND", value_name = "ADDR")]
    pub bind: Option<SocketAddr>,

    /// Directory for the embedded database, generated secrets and uploads [default: ./data].
    #[arg(long, global = true, env = "CONCLAVE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// PostgreSQL URL; when unset, an embedded SQLite file in the data directory is used.
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,

    /// PostgreSQL schema to use (created if missing) [default: public].
    #[arg(
        long,
        global = true,
        env = "CONCLAVE_DATABASE_SCHEMA",
        value_name = "NAME"
    )]
    pub database_schema: Option<String>,

    /// The URL users reach this server at.
    #[arg(long, global = true, env = "CONCLAVE_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// Origins allowed to open a WebSocket, comma-separated [default: the public URL's origin].
    #[arg(
        long,
        global = true,
        env = "CONCLAVE_ALLOWED_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGINS"
    )]
    pub allowed_origins: Option<Vec<String>>,

    /// Log format.
    #[arg(
        long,
        global = true,
        env = "CONCLAVE_LOG_FORMAT",
        value_enum,
        value_name = "FORMAT"
    )]
    pub log_format: Option<LogFormat>,

    /// HMAC key, 64 hex digits [default: generated into the data directory].
    #[arg(
        long,
        global = true,
        env = "CONCLAVE_HMAC_KEY",
        hide_env_values = true,
        hide = true
    )]
    pub hmac_key: Option<String>,

    /// Encryption key, 64 hex digits [default: generated into the data directory].
    #[arg(
        long,
        global = true,
        env = "CONCLAVE_ENCRYPTION_KEY",
        hide_env_values = true,
        hide = true
    )]
    pub encryption_key: Option<String>,

    /// Secret the telephony gateway presents on /gateway [default: the gateway endpoint is off].
    #[arg(
        long,
        global = true,
        env = "CONCLAVE_GATEWAY_SECRET",
        hide_env_values = true,
        hide = true
    )]
    pub gateway_secret: Option<String>,
}

#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Serve conferences (the default).
    Serve,
    /// Apply database migrations, then exit.
    Migrate,
    /// The tamper-evident audit log (docs/privacy.md "The audit chain").
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The server's encryption key (docs/encryption.md).
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum KeysCommand {
    /// Re-seal every summary key, phone number and webhook secret under a
    /// new encryption key, in one transaction; files are not touched. Stop
    /// every server first. A key kept in the data directory is replaced
    /// there; a configured key must be replaced in the configuration.
    Rotate {
        /// The new key (64 hexadecimal digits) [default: a new random key,
        /// when the current one is in the data directory].
        #[arg(long)]
        new_key_file: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditCommand {
    /// Check every account's chain against the audit log; prints one line
    /// per account and exits 1 if any chain is broken, naming the first
    /// broken link or the audit row that was changed.
    Verify,
}

impl Cli {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            bind: self.bind,
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            database_schema: self.database_schema.clone(),
            public_url: self.public_url.clone(),
            allowed_origins: self.allowed_origins.clone(),
            log_format: self.log_format,
            hmac_key: self.hmac_key.clone(),
            encryption_key: self.encryption_key.clone(),
            gateway_secret: self.gateway_secret.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["conclave", "migrate", "--bind", "127.0.0.1:0"]).unwrap();
        assert_eq!(cli.command, Some(Command::Migrate));
        assert_eq!(cli.bind.unwrap().port(), 0);
        let cli = Cli::try_parse_from(["conclave", "audit", "verify"]).unwrap();
        assert_eq!(cli.command, Some(Command::Audit(AuditCommand::Verify)));
        let cli =
            Cli::try_parse_from(["conclave", "keys", "rotate", "--new-key-file", "k"]).unwrap();
        assert_eq!(
            cli.command,
            Some(Command::Keys(KeysCommand::Rotate {
                new_key_file: Some("k".into())
            }))
        );
    }
}
