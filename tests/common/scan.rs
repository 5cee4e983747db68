//! Remnant scans for the deletion tests: every row of every table of a
//! server's store as text, and every file of its data directory, names and
//! bytes, so a test can say that nothing of what it deleted is left.
#![allow(dead_code)]

use super::{postgres_url, Backend, TestServer};

/// Every row of every table, one line each, values as text (blobs both as
/// hex and as lossy UTF-8).
pub async fn database_text(s: &TestServer) -> String {
    let mut out = String::new();
    match s.backend {
        Backend::Sqlite => {
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
                    out.push_str(&table);
                    for i in 0..n {
                        use rusqlite::types::ValueRef::*;
                        out.push('|');
                        match row.get_ref(i).unwrap() {
                            Null => out.push_str("NULL"),
                            Integer(v) => out.push_str(&v.to_string()),
                            Real(v) => out.push_str(&v.to_string()),
                            Text(t) => out.push_str(&String::from_utf8_lossy(t)),
                            Blob(b) => {
                                out.push_str(&hex::encode(b));
                                out.push(' ');
                                out.push_str(&String::from_utf8_lossy(b));
                            }
                        }
                    }
                    out.push('\n');
                }
            }
        }
        Backend::Postgres => {
            let (client, conn) = tokio_postgres::connect(&postgres_url(), tokio_postgres::NoTls)
                .await
                .unwrap();
            actix_web::rt::spawn(conn);
            let schema = s.config().database_schema.clone().unwrap();
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
