//! Remnant scans for the deletion tests: every row of every table of a
//! server's store as text, and every file of its data directory, names and
//! bytes, so a test can say that nothing of what it deleted is left.
#![allow(dead_code)]

use super::{postgres_url, Backend, TestServer};

/// Calls `f` with every row of every table of the test server's SQLite
/// file: the table's name and the row's values.
fn sqlite_rows(s: &TestServer, mut f: impl FnMut(&str, Vec<rusqlite::types::Value>)) {
    let db = rusqlite::Connection::open(s.data_dir().join("conclave.sqlite3")).unwrap();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for table in tables {
        let mut q = db.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let n = q.column_count();
        let mut rows = q.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            f(
                &table,
                (0..n)
                    .map(|i| row.get::<_, rusqlite::types::Value>(i).unwrap())
                    .collect(),
            );
        }
    }
}

/// A connection to the test server's PostgreSQL database, and its schema.
async fn postgres(s: &TestServer) -> (tokio_postgres::Client, String) {
    let (client, conn) = tokio_postgres::connect(&postgres_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    actix_web::rt::spawn(conn);
    (client, s.config().database_schema.clone().unwrap())
}

/// Every row of every table, one line each, values as text (blobs both as
/// hex and as lossy UTF-8).
pub async fn database_text(s: &TestServer) -> String {
    let mut out = String::new();
    match s.backend {
        Backend::Sqlite => {
            sqlite_rows(s, |table, row| {
                out.push_str(table);
                for value in row {
                    use rusqlite::types::Value::*;
                    out.push('|');
                    match value {
                        Null => out.push_str("NULL"),
                        Integer(v) => out.push_str(&v.to_string()),
                        Real(v) => out.push_str(&v.to_string()),
                        Text(t) => out.push_str(&t),
                        Blob(b) => {
                            out.push_str(&hex::encode(&b));
                            out.push(' ');
                            out.push_str(&String::from_utf8_lossy(&b));
                        }
                    }
                }
                out.push('\n');
            });
        }
        Backend::Postgres => {
            let (client, schema) = postgres(s).await;
            let tables = client
                .query(
                    "SELECT table_name::text FROM information_schema.tables \
                     WHERE table_schema = $1 AND table_type = 'BASE TABLE'",
                    &[&schema],
                )
                .await
                .unwrap();
            for t in tables {
                let table: String = t.get(0);
                let rows = client
                    .query(
                        &format!("SELECT t::text FROM \"{schema}\".\"{table}\" t"),
                        &[],
                    )
                    .await
                    .unwrap();
                for r in rows {
                    let text: String = r.get(0);
                    out.push_str(&format!("{table}|{text}\n"));
                }
            }
        }
    }
    out
}

/// Every file under the data directory: its path, then its bytes (lossy),
/// the SQLite database and its write-ahead log included (deleted rows must
/// not linger in their free pages).
pub fn data_dir_text(s: &TestServer) -> String {
    let mut out = String::new();
    let mut stack = vec![s.data_dir().to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            out.push_str(&path.to_string_lossy());
            out.push('\n');
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push_str(&String::from_utf8_lossy(
                    &std::fs::read(&path).unwrap_or_default(),
                ));
                out.push('\n');
            }
        }
    }
    out
}

/// Every binary value of every table (BLOB on SQLite, BYTEA on
/// PostgreSQL): where a wrapped key could be.
pub async fn database_blobs(s: &TestServer) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    match s.backend {
        Backend::Sqlite => {
            sqlite_rows(s, |_, row| {
                out.extend(row.into_iter().filter_map(|v| match v {
                    rusqlite::types::Value::Blob(b) => Some(b),
                    _ => None,
                }))
            });
        }
        Backend::Postgres => {
            let (client, schema) = postgres(s).await;
            let columns = client
                .query(
                    "SELECT table_name::text, column_name::text FROM information_schema.columns \
                     WHERE table_schema = $1 AND data_type = 'bytea'",
                    &[&schema],
                )
                .await
                .unwrap();
            for c in columns {
                let (table, column): (String, String) = (c.get(0), c.get(1));
                let rows = client
                    .query(
                        &format!("SELECT \"{column}\" FROM \"{schema}\".\"{table}\" WHERE \"{column}\" IS NOT NULL"),
                        &[],
                    )
                    .await
                    .unwrap();
                out.extend(rows.iter().map(|r| r.get::<_, Vec<u8>>(0)));
            }
        }
    }
    out
}

/// The key of `summary` as the store holds it (wrapped by the test
/// server's encryption key), opened.
pub async fn summary_key(s: &TestServer, summary: uuid::Uuid) -> Option<[u8; 32]> {
    let key = s.config().encryption_key.clone().unwrap();
    database_blobs(s)
        .await
        .iter()
        .find_map(|b| conclave::summary_keys::unwrap(&key, summary, b))
        .map(|k| *k.expose())
}

/// Writes `bytes` as the recorder would: a sealed file under `key`.
pub fn write_sealed(path: &std::path::Path, key: [u8; 32], bytes: &[u8]) {
    let (mut sealer, header) = conclave_media::sealed_file::AppendSealer::new(key);
    let mut out = header.bytes().to_vec();
    out.extend(sealer.push(bytes));
    out.extend(sealer.finish());
    std::fs::write(path, out).unwrap();
}

/// A sealed file's plaintext, if `key` opens all of it.
pub fn open_sealed(path: &std::path::Path, key: [u8; 32]) -> Option<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).ok()?;
    let mut out = Vec::new();
    conclave_media::sealed_file::SealedReader::open(file, key)
        .ok()?
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

/// Every text value of the store that `key` opens (a summary's sealed
/// names, chat and document names): the base64 runs of every row.
pub async fn opened_texts(s: &TestServer, key: [u8; 32]) -> Vec<String> {
    let key = conclave::secrets::SecretKey::from_hex("k", &hex::encode(key)).unwrap();
    let text = database_text(s).await;
    text.split(|c: char| !(c.is_ascii_alphanumeric() || "+/=".contains(c)))
        .filter(|run| run.len() >= 40)
        .filter_map(|run| conclave::summary_keys::open_text(&key, run))
        .collect()
}

/// Runs a statement straight on the server's database (tampering, as
/// someone with the database alone could).
pub async fn execute(s: &TestServer, statement: &str) {
    match s.backend {
        Backend::Sqlite => {
            let db = rusqlite::Connection::open(s.data_dir().join("conclave.sqlite3")).unwrap();
            db.execute_batch(statement).unwrap();
        }
        Backend::Postgres => {
            let (client, schema) = postgres(s).await;
            client
                .batch_execute(&format!("SET search_path TO {schema}; {statement}"))
                .await
                .unwrap();
        }
    }
}
