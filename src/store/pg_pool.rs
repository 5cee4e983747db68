//! Connecting to PostgreSQL, migrating, and the pool's clients (the rest
//! of the store is `postgres.rs` and the `pg_*` files).

use std::time::Duration;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use super::migrations::POSTGRES as MIGRATIONS;
use super::postgres::{conference_from_row, map_err, PgStore};
use super::*;

/// Key of the advisory lock that serialises migrations across servers.
const MIGRATION_LOCK: i64 = 0x636f_6e63_6c61_7665; // "conclave"

impl PgStore {
    /// Builds the pool and checks that the server answers. `schema`, when
    /// given, is created if missing and used as the search path.
    pub async fn connect(url: &str, schema: Option<&str>) -> StoreResult<Self> {
        // The parse error is not shown: it could quote the URL's password.
        let mut pg: tokio_postgres::Config = url
            .parse()
            .map_err(|_| StoreError::Other("DATABASE_URL is not a valid PostgreSQL URL".into()))?;
        pg.connect_timeout(Duration::from_secs(5));
        if let Some(s) = schema {
            pg.options(format!("-c search_path={s}"));
        }
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(5)))
            .create_timeout(Some(Duration::from_secs(5)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|e| StoreError::Other(format!("cannot build the PostgreSQL pool: {e}")))?;
        let store = Self {
            pool,
            schema: schema.map(str::to_owned),
            chain_key: Default::default(),
        };
        store.ping().await?;
        Ok(store)
    }

    /// Applies the migrations not yet applied, under an advisory lock so
    /// servers starting together do not race.
    pub async fn migrate(&self) -> StoreResult<usize> {
        let mut client = self.client().await?;
        if let Some(s) = &self.schema {
            client
                .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {s}"))
                .await
                .map_err(map_err)?;
        }
        let tx = client.transaction().await.map_err(map_err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(map_err)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version TEXT PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await
        .map_err(map_err)?;
        let mut applied = 0;
        for m in MIGRATIONS {
            let done = tx
                .query_opt(
                    "SELECT 1 FROM schema_migrations WHERE version = $1",
                    &[&m.version],
                )
                .await
                .map_err(map_err)?
                .is_some();
            if !done {
                tx.batch_execute(m.sql).await.map_err(map_err)?;
                tx.execute(
                    "INSERT INTO schema_migrations (version) VALUES ($1)",
                    &[&m.version],
                )
                .await
                .map_err(map_err)?;
                tracing::info!(version = m.version, "applied PostgreSQL migration");
                applied += 1;
            }
        }
        tx.commit().await.map_err(map_err)?;
        Ok(applied)
    }

    pub(super) async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(format!("PostgreSQL: {e}")))
    }

    pub(super) async fn conference_where(
        client: &impl GenericClient,
        condition: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> StoreResult<Conference> {
        let sql = format!("SELECT {CONFERENCE_COLUMNS} FROM {CONFERENCE_FROM} WHERE {condition}");
        let row = client.query_opt(&sql, params).await.map_err(map_err)?;
        conference_from_row(&row.ok_or(StoreError::NotFound)?)
    }
}
