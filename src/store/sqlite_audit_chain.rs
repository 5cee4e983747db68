//! The audit chain on SQLite (src/store/audit_chain.rs): links are
//! computed here, inside the writing transaction, which holds SQLite's one
//! write lock, so no other writer can append between the read of the last
//! link and the insert of the next.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Transaction};
use uuid::Uuid;

use super::audit_chain::{key_of, linked, ChainKey, ChainStore, Link, LinkTo, Linked};
use super::records::{AuditRow, Record};
use super::sqlite::{map_err, uuid_col, SqliteStore};
use super::StoreResult;

/// Appends the link of a record that is one, unless its entry has a link
/// already (a batch written twice).
pub(super) fn append(tx: &Transaction<'_>, r: &Record, key: &ChainKey) -> StoreResult<()> {
    let Some(Linked {
        to,
        id,
        kind,
        detail,
        at,
        digest,
    }) = linked(r)
    else {
        return Ok(());
    };
    let (chain_sql, owner) = match to {
        LinkTo::Conference(c) => (
            "SELECT a.organisation_id FROM conferences c \
             JOIN accounts a ON a.id = c.account_id WHERE c.id = ?1",
            c,
        ),
        LinkTo::Account(a) => ("SELECT organisation_id FROM accounts WHERE id = ?1", a),
        LinkTo::Organisation(o) => ("SELECT id FROM organisations WHERE id = ?1", o),
    };
    let Some(chain) = tx
        .query_row(chain_sql, [owner.to_string()], |r| uuid_col(r, 0))
        .optional()
        .map_err(map_err)?
    else {
        return Ok(());
    };
    let entry = key.pseudonym(id);
    let known = tx
        .query_row(
            "SELECT 1 FROM audit_chain WHERE entry = ?1",
            [&entry[..]],
            |_| Ok(()),
        )
        .optional()
        .map_err(map_err)?;
    if known.is_some() {
        return Ok(());
    }
    let last: Option<(i64, Vec<u8>)> = tx
        .query_row(
            "SELECT seq, hash FROM audit_chain WHERE chain_id = ?1 ORDER BY seq DESC LIMIT 1",
            [chain.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(map_err)?;
    let prev = last.as_ref().map(|(s, h)| (*s, h.as_slice()));
    let link = Link::next(key, chain, prev, entry, kind, detail, at, digest);
    tx.prepare_cached(
        "INSERT INTO audit_chain (chain_id, seq, entry, kind, detail, at, digest, prev, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .map_err(map_err)?
    .execute(params![
        chain.to_string(),
        link.seq,
        link.entry,
        link.kind,
        link.detail,
        link.at,
        link.digest,
        link.prev,
        link.hash
    ])
    .map_err(map_err)?;
    Ok(())
}

impl SqliteStore {
    pub(super) fn chain_key(&self) -> ChainKey {
        key_of(&self.chain_key)
    }
}

#[async_trait]
impl ChainStore for SqliteStore {
    fn set_chain_key(&self, key: ChainKey) {
        let _ = self.chain_key.set(key);
    }

    async fn chains(&self) -> StoreResult<Vec<Uuid>> {
        self.call(|c| {
            let mut q = c
                .prepare("SELECT id FROM organisations ORDER BY id")
                .map_err(map_err)?;
            let rows = q
                .query_map([], |r| uuid_col(r, 0))
                .map_err(map_err)?
                .collect::<Result<_, _>>()
                .map_err(map_err)?;
            Ok(rows)
        })
        .await
    }

    async fn chain_links(&self, chain: Uuid, after: i64, limit: u32) -> StoreResult<Vec<Link>> {
        self.call(move |c| {
            let mut q = c
                .prepare_cached(
                    "SELECT seq, entry, kind, detail, at, digest, prev, hash FROM audit_chain \
                     WHERE chain_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                )
                .map_err(map_err)?;
            let rows = q
                .query_map(params![chain.to_string(), after, i64::from(limit)], |r| {
                    Ok(Link {
                        chain,
                        seq: r.get(0)?,
                        entry: r.get(1)?,
                        kind: r.get(2)?,
                        detail: r.get(3)?,
                        at: r.get(4)?,
                        digest: r.get(5)?,
                        prev: r.get(6)?,
                        hash: r.get(7)?,
                    })
                })
                .map_err(map_err)?
                .collect::<Result<_, _>>()
                .map_err(map_err)?;
            Ok(rows)
        })
        .await
    }

    async fn chain_rows(
        &self,
        chain: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<(Uuid, AuditRow)>> {
        self.call(move |c| {
            let mut q = c
                .prepare_cached(
                    "SELECT conference_id, id, session_id, actor, action, target, detail, at FROM audit_log l \
                     WHERE (chain_id = ?1 OR (NOT EXISTS (SELECT 1 FROM organisations o WHERE o.id = l.chain_id) \
                            AND conference_id IN (SELECT c.id FROM conferences c JOIN accounts a ON a.id = c.account_id \
                                                  WHERE a.organisation_id = ?1))) \
                       AND (?2 IS NULL OR id > ?2) ORDER BY id LIMIT ?3",
                )
                .map_err(map_err)?;
            let rows = q
                .query_map(
                    params![chain.to_string(), after.map(|a| a.to_string()), i64::from(limit)],
                    |r| {
                        Ok((
                            uuid_col(r, 0)?,
                            AuditRow {
                                id: uuid_col(r, 1)?,
                                session: uuid_col(r, 2)?,
                                actor: uuid_col(r, 3)?,
                                action: r.get(4)?,
                                target: r.get(5)?,
                                detail: r.get(6)?,
                                at: r.get(7)?,
                            },
                        ))
                    },
                )
                .map_err(map_err)?
                .collect::<Result<_, _>>()
                .map_err(map_err)?;
            Ok(rows)
        })
        .await
    }
}
