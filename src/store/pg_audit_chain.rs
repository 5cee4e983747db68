//! The audit chain on PostgreSQL (src/store/audit_chain.rs). A link is
//! written by one statement that reads its chain's last link and computes
//! the HMAC in SQL (`sha256` over the key's two pads, RFC 2104), so a batch
//! with moderator actions still goes out pipelined, in one round trip. The
//! chains a batch touches are locked first, in one order, by transaction
//! advisory locks, so two nodes never append the same position.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::audit_chain::{
    key_of, link_rest, linked, ChainKey, ChainStore, Link, LinkTo, Linked, GENESIS,
};
use super::pg_history::Params;
use super::postgres::{map_err, PgStore};
use super::records::{AuditRow, ChainOf, Record};
use super::StoreResult;

/// Locks every chain the batch appends to, in the order of their lock
/// keys: the organisations of `$1`, the conferences of its moderator
/// actions, of `$2`, the accounts of its other links, and `$3`, the
/// organisations its links name. (An account that
/// changes organisation between this and its append finds the new chain
/// unlocked: two appends at one position then fail the primary key, and
/// the persister writes the batch again.)
pub(super) fn lock(records: &[Record]) -> Option<(&'static str, Params)> {
    let conferences: Vec<Uuid> = records
        .iter()
        .filter_map(|r| match r {
            Record::Audit { conference, .. } => Some(*conference),
            _ => None,
        })
        .collect();
    let (mut accounts, mut organisations) = (Vec::new(), Vec::new());
    for r in records {
        match r {
            Record::Chained {
                of: ChainOf::Account(a),
                ..
            } => accounts.push(*a),
            Record::Chained {
                of: ChainOf::Organisation(o),
                ..
            } => organisations.push(*o),
            _ => {}
        }
    }
    if conferences.is_empty() && accounts.is_empty() && organisations.is_empty() {
        return None;
    }
    Some((
        "SELECT pg_advisory_xact_lock(k) FROM ( \
           SELECT DISTINCT hashtextextended(chain::text, 17) AS k FROM ( \
             SELECT a.organisation_id AS chain FROM conferences c JOIN accounts a ON a.id = c.account_id \
               WHERE c.id = ANY($1::uuid[]) \
             UNION SELECT organisation_id FROM accounts WHERE id = ANY($2::uuid[]) \
             UNION SELECT unnest($3::uuid[])) c \
           ORDER BY k) keys",
        vec![Box::new(conferences), Box::new(accounts), Box::new(organisations)],
    ))
}

/// How many `audit_log` rows each chain holds among those whose `column`
/// (`session_id` or `conference_id`) is one of `ids`.
pub(super) async fn rows_by_chain(
    tx: &tokio_postgres::Transaction<'_>,
    column: &'static str,
    ids: &[Uuid],
) -> StoreResult<Vec<(Uuid, i64)>> {
    tx.query(
        &format!(
            "SELECT chain_id, count(*) FROM audit_log \
             WHERE {column} = ANY($1) AND chain_id IS NOT NULL GROUP BY chain_id"
        ),
        &[&ids],
    )
    .await
    .map_err(map_err)?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .collect::<Result<_, tokio_postgres::Error>>()
    .map_err(map_err)
}

/// Takes the chains' append locks (as `lock` does) in a transaction that
/// moves an account between organisations, so a batch that read the old
/// organisation as its chain has appended before the move commits.
pub(super) async fn lock_chains(
    tx: &tokio_postgres::Transaction<'_>,
    chains: &[Uuid],
) -> StoreResult<()> {
    tx.execute(
        "SELECT pg_advisory_xact_lock(k) FROM ( \
           SELECT DISTINCT hashtextextended(c::text, 17) AS k FROM unnest($1::uuid[]) c ORDER BY k) keys",
        &[&chains],
    )
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Appends the link after the chain's last, unless the entry has one
/// already (a batch written twice). `$1` names the chain's account as
/// `{CHAIN}`; `$7`/`$8` are the key's pads; `$9` the rest of the message.
macro_rules! append {
    ($chain:literal) => {
        concat!(
            "INSERT INTO audit_chain (chain_id, seq, entry, kind, detail, at, digest, prev, hash) \
             SELECT h.chain_id, h.seq + 1, $2::bytea, $3::text, $4::text, $5::timestamptz, $6::bytea, h.hash, \
                    sha256($8::bytea || sha256($7::bytea || h.hash || int8send(h.seq + 1) \
                                               || uuid_send(h.chain_id) || $9::bytea)) \
             FROM (SELECT c.chain_id, COALESCE(l.seq, 0) AS seq, COALESCE(l.hash, $10::bytea) AS hash \
                   FROM (", $chain, ") c \
                   LEFT JOIN LATERAL (SELECT seq, hash FROM audit_chain WHERE chain_id = c.chain_id \
                                      ORDER BY seq DESC LIMIT 1) l ON true) h \
             WHERE NOT EXISTS (SELECT 1 FROM audit_chain WHERE entry = $2::bytea)"
        )
    };
}

/// The statement that chains a record, for the records that are links.
pub(super) fn link(r: &Record, key: &ChainKey) -> Option<(&'static str, Params)> {
    let Linked {
        to,
        id,
        kind,
        detail,
        at,
        digest,
    } = linked(r)?;
    let (sql, owner) = match to {
        LinkTo::Conference(c) => (
            append!(
                "SELECT a.organisation_id AS chain_id FROM conferences c \
                 JOIN accounts a ON a.id = c.account_id WHERE c.id = $1::uuid"
            ),
            c,
        ),
        LinkTo::Account(a) => (
            append!("SELECT organisation_id AS chain_id FROM accounts WHERE id = $1::uuid"),
            a,
        ),
        LinkTo::Organisation(o) => (
            append!("SELECT id AS chain_id FROM organisations WHERE id = $1::uuid"),
            o,
        ),
    };
    let entry = key.pseudonym(id);
    let rest = link_rest(&entry, kind, at, &digest);
    let (inner, outer) = key.pads();
    let at = DateTime::<Utc>::from_timestamp_millis(at).unwrap_or_default();
    Some((
        sql,
        vec![
            Box::new(owner),
            Box::new(entry.to_vec()),
            Box::new(kind),
            Box::new(detail),
            Box::new(at),
            Box::new(digest.to_vec()),
            Box::new(inner),
            Box::new(outer),
            Box::new(rest),
            Box::new(GENESIS.to_vec()),
        ],
    ))
}

impl PgStore {
    pub(super) fn chain_key(&self) -> ChainKey {
        key_of(&self.chain_key)
    }
}

#[async_trait]
impl ChainStore for PgStore {
    fn set_chain_key(&self, key: ChainKey) {
        let _ = self.chain_key.set(key);
    }

    async fn chains(&self) -> StoreResult<Vec<Uuid>> {
        let rows = self
            .client()
            .await?
            .query("SELECT id FROM organisations ORDER BY id", &[])
            .await
            .map_err(map_err)?;
        rows.iter().map(|r| r.try_get(0).map_err(map_err)).collect()
    }

    async fn chain_links(&self, chain: Uuid, after: i64, limit: u32) -> StoreResult<Vec<Link>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT seq, entry, kind, detail, at, digest, prev, hash FROM audit_chain \
                 WHERE chain_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[&chain, &after, &i64::from(limit)],
            )
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(Link {
                    chain,
                    seq: r.try_get(0).map_err(map_err)?,
                    entry: r.try_get(1).map_err(map_err)?,
                    kind: r.try_get(2).map_err(map_err)?,
                    detail: r.try_get(3).map_err(map_err)?,
                    at: r
                        .try_get::<_, DateTime<Utc>>(4)
                        .map_err(map_err)?
                        .timestamp_millis(),
                    digest: r.try_get(5).map_err(map_err)?,
                    prev: r.try_get(6).map_err(map_err)?,
                    hash: r.try_get(7).map_err(map_err)?,
                })
            })
            .collect()
    }

    async fn chain_rows(
        &self,
        chain: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<(Uuid, AuditRow)>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT conference_id, id, session_id, actor, action, target, detail, at FROM audit_log l \
                 WHERE (chain_id = $1 OR (NOT EXISTS (SELECT 1 FROM organisations o WHERE o.id = l.chain_id) \
                        AND conference_id IN (SELECT c.id FROM conferences c JOIN accounts a ON a.id = c.account_id \
                                              WHERE a.organisation_id = $1))) \
                   AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3",
                &[&chain, &after, &i64::from(limit)],
            )
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                let at: DateTime<Utc> = r.try_get(7)?;
                Ok((
                    r.try_get(0)?,
                    AuditRow {
                        id: r.try_get(1)?,
                        session: r.try_get(2)?,
                        actor: r.try_get(3)?,
                        action: r.try_get(4)?,
                        target: r.try_get(5)?,
                        detail: r.try_get(6)?,
                        at: at.timestamp_millis(),
                    },
                ))
            })
            .collect::<Result<_, tokio_postgres::Error>>()
            .map_err(map_err)
    }
}
