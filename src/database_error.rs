//! Why PostgreSQL refused to start serving us, in words an operator can act
//! on. The store reports a failed start as its pool saw it ("db error");
//! this makes one plain connection to tell apart a server that cannot be
//! reached, a role that does not exist, a wrong password and a missing
//! database. The password is never part of the message.

use std::time::Duration;

use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Config, NoTls};

/// What is wrong with connecting to `url`, or `None` when a connection
/// works (the failure was elsewhere) or the URL cannot be read.
pub async fn explain(url: &str) -> Option<String> {
    let mut config: Config = url.parse().ok()?;
    config.connect_timeout(Duration::from_secs(5));
    match config.connect(NoTls).await {
        Ok(_) => None,
        Err(e) => Some(describe(&config, &e)),
    }
}

fn describe(config: &Config, e: &tokio_postgres::Error) -> String {
    let server = server(config);
    let user = config.get_user().unwrap_or("(none)");
    let database = config.get_dbname().unwrap_or(user);
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        // The server's own words help and never hold the password.
        let said = db.message();
        return if *code == SqlState::INVALID_PASSWORD {
            format!(
                "PostgreSQL at {server} refused the password for role `{user}` (or the role \
                 does not exist: with password authentication PostgreSQL does not say which; \
                 it said: {said})"
            )
        } else if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
            format!(
                "PostgreSQL at {server} refused role `{user}`: it does not exist, or \
                 pg_hba.conf does not let it connect from here (it said: {said}); \
                 create it with `CREATE ROLE {user} LOGIN PASSWORD '...'`"
            )
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            format!(
                "database `{database}` does not exist on PostgreSQL at {server}; create it \
                 with `CREATE DATABASE {database} OWNER {user}`"
            )
        } else {
            format!(
                "PostgreSQL at {server} refused the connection for role `{user}` to database \
                 `{database}` (SQLSTATE {}: {said})",
                code.code()
            )
        };
    }
    let io = std::iter::successors(std::error::Error::source(e), |s| s.source())
        .find_map(|s| s.downcast_ref::<std::io::Error>());
    match io.map(std::io::Error::kind) {
        Some(std::io::ErrorKind::ConnectionRefused) => {
            format!("cannot reach PostgreSQL at {server}: nothing accepts connections there")
        }
        Some(std::io::ErrorKind::TimedOut) => {
            format!("cannot reach PostgreSQL at {server}: no answer within 5 s")
        }
        Some(_) => format!("cannot reach PostgreSQL at {server}: {}", io.unwrap()),
        None if e.to_string().contains("timed out") => {
            format!("cannot reach PostgreSQL at {server}: no answer within 5 s")
        }
        None => format!("cannot connect to PostgreSQL at {server}: {e}"),
    }
}

/// `host:port` of the first server the URL names.
fn server(config: &Config) -> String {
    let port = config.get_ports().first().copied().unwrap_or(5432);
    match config.get_hosts().first() {
        Some(Host::Tcp(host)) => format!("{host}:{port}"),
        Some(Host::Unix(dir)) => format!("{}/.s.PGSQL.{port}", dir.display()),
        None => format!("localhost:{port}"),
    }
}
