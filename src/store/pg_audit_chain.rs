//! The audit chain on PostgreSQL (src/store/audit_chain.rs). A link is
//! written by one statement that reads its chain's last link and computes
//! the HMAC in SQL (`sha256` over the key's two pads, RFC 2104), so a batch
//! with moderator actions still goes out pipelined, in one round trip. The
//! chains a batch touches are locked first, in one order, by transaction
//! advisory locks, so two nodes never append the same position.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::audit_chain::{key_of, link_rest, linked, ChainKey, ChainStore, Link, Linked, GENESIS};
use super::pg_history::Params;
use super::postgres::{map_err, PgStore};
use super::records::Record;
use super::StoreResult;

/// Locks every chain the batch appends to, in the order of their lock
/// keys: `$1` the conferences of its moderator actions, `$2` the accounts
/// of its other links.
pub(super) fn lock(records: &[Record]) -> Option<(&'static str, Params)> {
    let conferences: Vec<Uuid> = records
        .iter()
        .filter_map(|r| match r {
            Record::Audit { conference, .. } => Some(*conference),
            _ => None,
        })
        .collect();
    let accounts: Vec<Uuid> = records
        .iter()
        .filter_map(|r| match r {
            Record::Chained { account, .. } => Some(*account),
            _ => None,
        })
        .collect();
    if conferences.is_empty() && accounts.is_empty() {
        return None;
    }
    Some((
        "SELECT pg_advisory_xact_lock(k) FROM ( \
           SELECT DISTINCT hashtextextended(chain::text, 17) AS k FROM ( \
             SELECT account_id AS chain FROM conferences WHERE id = ANY($1::uuid[]) \
             UNION SELECT unnest($2::uuid[])) c \
           ORDER BY k) keys",
        vec![Box::new(conferences), Box::new(accounts)],
    ))
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
        conference,
        owner,
        id,
        kind,
        detail,
        at,
        digest,
    } = linked(r)?;
    let sql = match conference {
        Some(_) => append!("SELECT account_id AS chain_id FROM conferences WHERE id = $1::uuid"),
        None => append!("SELECT id AS chain_id FROM accounts WHERE id = $1::uuid"),
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

    async fn chain_accounts(&self) -> StoreResult<Vec<Uuid>> {
        let rows = self
            .client()
            .await?
            .query("SELECT id FROM accounts ORDER BY id", &[])
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
}
