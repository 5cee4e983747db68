//! docs/privacy.md against the schema itself: every column of every table
//! in a freshly migrated store (SQLite and PostgreSQL, read from the
//! database's own catalogue, not from schema/) is listed on the page, and
//! the page lists no column that exists in neither.

mod common;

use std::collections::BTreeSet;

use common::{Backend, BACKENDS};

type Columns = BTreeSet<(String, String)>;

/// `table.column` pairs the page documents: a `### \`table\`` heading,
/// then rows that start with `| \`column\` |`.
fn documented() -> Columns {
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/privacy.md"))
        .expect("docs/privacy.md");
    let mut table = None;
    let mut out = Columns::new();
    for line in page.lines() {
        if let Some(name) = line.strip_prefix("### `").and_then(|l| l.strip_suffix('`')) {
            table = Some(name.to_owned());
        } else if line.starts_with("## ") {
            table = None;
        } else if let (Some(t), Some(rest)) = (&table, line.strip_prefix("| `")) {
            if let Some((column, _)) = rest.split_once("` |") {
                out.insert((t.clone(), column.to_owned()));
            }
        }
    }
    out
}

/// Every column of a freshly migrated store of `backend`.
async fn schema(backend: Backend) -> Columns {
    let (config, _dir) = common::config(backend);
    conclave::store::open(&config)
        .await
        .expect("the store opens and migrates");
    match backend {
        Backend::Sqlite => {
            let db = rusqlite::Connection::open(config.data_dir.join("conclave.sqlite3")).unwrap();
            let mut tables = db
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
                .unwrap();
            let names: Vec<String> = tables
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let mut out = Columns::new();
            for t in names {
                let mut info = db
                    .prepare(&format!("SELECT name FROM pragma_table_info('{t}')"))
                    .unwrap();
                for c in info.query_map([], |r| r.get::<_, String>(0)).unwrap() {
                    out.insert((t.clone(), c.unwrap()));
                }
            }
            out
        }
        Backend::Postgres => {
            let (client, connection) =
                tokio_postgres::connect(&common::postgres_url(), tokio_postgres::NoTls)
                    .await
                    .unwrap();
            tokio::spawn(connection);
            let schema = config.database_schema.clone().unwrap();
            let rows = client
                .query(
                    "SELECT table_name::text, column_name::text FROM information_schema.columns \
                     WHERE table_schema = $1",
                    &[&schema],
                )
                .await
                .unwrap();
            client
                .execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"), &[])
                .await
                .unwrap();
            rows.iter().map(|r| (r.get(0), r.get(1))).collect()
        }
    }
}

#[tokio::test]
async fn the_privacy_page_lists_every_column_of_both_stores_and_no_other() {
    let page = documented();
    let mut everywhere = Columns::new();
    for backend in BACKENDS {
        let columns = schema(backend).await;
        assert!(columns.len() > 50, "{backend:?}: the catalogue was read");
        let missing: Vec<_> = columns.difference(&page).collect();
        assert!(
            missing.is_empty(),
            "{backend:?}: columns docs/privacy.md does not list: {missing:?}"
        );
        everywhere.extend(columns);
    }
    let stale: Vec<_> = page.difference(&everywhere).collect();
    assert!(
        stale.is_empty(),
        "docs/privacy.md lists columns no store has: {stale:?}"
    );
}
