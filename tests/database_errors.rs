//! The `conclave` binary refused by PostgreSQL says why, in plain words,
//! and never prints the URL's password: a missing database, a missing
//! role, a wrong password, a server that is not there.

mod common;

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_conclave");
const SECRET: &str = "pw-that-must-never-be-printed-7431";

/// The test PostgreSQL's URL in parts: (user, password, host:port, rest
/// after the database name).
fn parts() -> (String, Option<String>, String, String) {
    let url = common::postgres_url();
    let rest = url.split_once("://").expect("a URL").1;
    let (auth, rest) = rest.rsplit_once('@').expect("a user in the URL");
    let (user, password) = match auth.split_once(':') {
        Some((u, p)) => (u.to_owned(), Some(p.to_owned())),
        None => (auth.to_owned(), None),
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let query = path
        .find('?')
        .map(|i| path[i..].to_owned())
        .unwrap_or_default();
    (user, password, host.to_owned(), query)
}

/// Runs `conclave migrate` against `url`; its exit code and stderr.
fn migrate(url: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("migrate")
        .env("DATABASE_URL", url)
        .env("CONCLAVE_DATA_DIR", dir.path().join("data"))
        .env("CONCLAVE_LOG", "debug")
        .env_remove("CONCLAVE_CONFIG")
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stdout));
    (out.status.code(), text)
}

fn refused(url: &str, says: &[&str]) -> String {
    let (code, text) = migrate(url);
    assert_eq!(code, Some(1), "{text}");
    for words in says {
        assert!(text.contains(words), "expected {words:?} in:\n{text}");
    }
    assert!(!text.contains(SECRET), "the password was printed:\n{text}");
    assert!(!text.contains("db error"), "{text}");
    text
}

#[test]
fn a_missing_database_is_named() {
    let (user, password, host, query) = parts();
    let auth = match &password {
        Some(p) => format!("{user}:{p}"),
        None => user.clone(),
    };
    let db = format!("conclave_no_such_db_{}", std::process::id());
    refused(
        &format!("postgres://{auth}@{host}/{db}{query}"),
        &[
            &format!("database `{db}` does not exist"),
            "CREATE DATABASE",
        ],
    );
}

#[test]
fn a_missing_role_or_a_wrong_password_is_named() {
    let (user, password, host, query) = parts();
    let role = format!("conclave_no_such_role_{}", std::process::id());
    // Under trust authentication PostgreSQL says the role does not exist;
    // under password authentication it only says the password failed.
    let text = refused(
        &format!("postgres://{role}:{SECRET}@{host}/postgres{query}"),
        &[&format!("role `{role}`")],
    );
    assert!(
        text.contains("does not exist") || text.contains("refused the password"),
        "{text}"
    );
    if password.is_some() {
        refused(
            &format!("postgres://{user}:{SECRET}@{host}/postgres{query}"),
            &[&format!("refused the password for role `{user}`")],
        );
    }
}

#[test]
fn an_unreachable_server_is_named() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    refused(
        &format!("postgres://conclave:{SECRET}@127.0.0.1:{port}/conclave"),
        &[&format!("cannot reach PostgreSQL at 127.0.0.1:{port}")],
    );
}
