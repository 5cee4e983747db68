//! `conclave audit verify`: every organisation's audit chain checked link
//! by link against the audit log rows chained in it, as they read now (src/store/audit_chain.rs,
//! docs/privacy.md "The audit chain").

use uuid::Uuid;

use crate::store::audit_chain::{Broken, ChainKey, ModeratorEntry, Verifier};
use crate::store::{Store, StoreResult};

/// Links and audit rows read at a time.
const PAGE: u32 = 1_000;

/// One organisation's chain, checked.
#[derive(Debug, PartialEq, Eq)]
pub struct ChainReport {
    /// The organisation (an account's own has the account's id).
    pub chain: Uuid,
    /// Links that verified, up to the first broken one.
    pub links: u64,
    /// Audit rows older than the chain's first link (written before this
    /// server chained them): counted, not checked.
    pub predating: u64,
    /// The first fault, if any.
    pub broken: Option<Broken>,
}

impl std::fmt::Display for ChainReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "organisation {}: {} links", self.chain, self.links)?;
        if self.predating > 0 {
            write!(f, ", {} audit entries predate the chain", self.predating)?;
        }
        match &self.broken {
            None => write!(f, ", intact"),
            Some(b) => write!(f, ", BROKEN: {b}"),
        }
    }
}

/// Checks every organisation's chain.
pub async fn verify(store: &dyn Store, key: &ChainKey) -> StoreResult<Vec<ChainReport>> {
    let mut out = Vec::new();
    for chain in store.chains().await? {
        out.push(verify_one(store, key, chain).await?);
    }
    Ok(out)
}

async fn verify_one(store: &dyn Store, key: &ChainKey, chain: Uuid) -> StoreResult<ChainReport> {
    let first = store.chain_links(chain, 0, 1).await?;
    let since = first.first().map(|l| l.at);
    let mut verifier = Verifier::new(key, chain);
    let mut predating = 0;
    let mut after = None;
    loop {
        let rows = store.chain_rows(chain, after, PAGE).await?;
        for (conference, r) in &rows {
            if since.is_none_or(|at| r.at < at) {
                predating += 1;
                continue;
            }
            verifier.row(&ModeratorEntry {
                id: r.id,
                conference: *conference,
                session: r.session,
                actor: r.actor,
                action: &r.action,
                target: r.target.as_deref(),
                detail: r.detail.as_deref(),
                at: r.at,
            });
        }
        match rows.last() {
            Some((_, last)) if rows.len() == PAGE as usize => after = Some(last.id),
            _ => break,
        }
    }
    let mut after = 0;
    loop {
        let links = store.chain_links(chain, after, PAGE).await?;
        for link in &links {
            if let Err(broken) = verifier.link(link) {
                return Ok(ChainReport {
                    chain,
                    links: verifier.links,
                    predating,
                    broken: Some(broken),
                });
            }
        }
        match links.last() {
            Some(last) if links.len() == PAGE as usize => after = last.seq,
            _ => break,
        }
    }
    let links = verifier.links;
    Ok(ChainReport {
        chain,
        links,
        predating,
        broken: verifier.finish().err(),
    })
}
