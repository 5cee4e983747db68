//! The tamper-evident audit chain (docs/privacy.md "The audit chain"):
//! every moderator action, and every deletion, erasure and export, is a
//! link of its organisation's chain (the organisation the conference's
//! owner, or the account, belongs to when the link is written), keyed by HMAC-SHA256 over the previous
//! link's hash, its position and what it records. The key is derived from
//! the server's HMAC key, which the database never holds, so whoever can
//! edit the database can break the chain but not forge a new one.
//!
//! A link records a moderator action by a digest of its `audit_log` row
//! and a keyed pseudonym of the row's id, never the row itself: deleting
//! a summary deletes its audit rows and leaves nothing of them readable in
//! the chain, while an edited row no longer matches its digest. Links of
//! the other kinds carry their own `detail` (counts only, no personal
//! data).

use async_trait::async_trait;
use conclave_actors::room_state::Millis;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::StoreResult;

/// Reading and keying the chains; links are written with the records they
/// chain (`Store::write_records`, `Store::delete_history`).
#[async_trait]
pub trait ChainStore: Send + Sync + 'static {
    /// Keys every link written from now on; the server sets it from its
    /// HMAC key before anything is written. A store never keyed (tests that
    /// open one directly) uses the key derived from an empty one.
    fn set_chain_key(&self, key: ChainKey);
    /// Every organisation, each with its chain (possibly empty), in id
    /// order.
    async fn chains(&self) -> StoreResult<Vec<Uuid>>;
    /// The organisation's links after position `after`, in order.
    async fn chain_links(&self, chain: Uuid, after: i64, limit: u32) -> StoreResult<Vec<Link>>;
    /// The `audit_log` rows chained in `chain`, each with its conference,
    /// by id after `after`; with them, the rows of its members'
    /// conferences that name no chain (or one that does not exist), which
    /// only an edit outside the server makes.
    async fn chain_rows(
        &self,
        chain: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<(Uuid, super::records::AuditRow)>>;
}

/// The hash before a chain's first link.
pub const GENESIS: [u8; 32] = [0; 32];

/// The kind of a link that records an `audit_log` row.
pub const MODERATOR: &str = "moderator";

/// The chain's HMAC key.
#[derive(Clone)]
pub struct ChainKey([u8; 32]);

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainKey(..)")
    }
}

/// The key a store writes links with (`ChainStore::set_chain_key`).
pub(super) fn key_of(set: &std::sync::OnceLock<ChainKey>) -> ChainKey {
    set.get().cloned().unwrap_or_else(|| ChainKey::derive(b""))
}

/// The detail of a `history_deleted` link: what the deletion removed.
pub(super) fn deleted_detail(
    sessions: usize,
    seats: i64,
    audit: i64,
    chat: i64,
    documents: usize,
) -> String {
    serde_json::json!({
        "sessions": sessions,
        "seats": seats,
        "audit_entries": audit,
        "chat_messages": chat,
        "documents": documents,
    })
    .to_string()
}

/// The links of a summary's deletion: one `history_deleted` link in the
/// chain of the organisation its conference's owner belongs to now, with
/// every count, and one in each other chain that holds some of the
/// deleted moderator actions (`chains`: each chain and how many of them
/// it holds), written while the owner belonged to another organisation,
/// so each chain accounts for the actions it lost.
pub(super) fn deletion_links(
    owner_chain: Uuid,
    chains: &[(Uuid, i64)],
    sessions: usize,
    seats: i64,
    chat: i64,
    documents: usize,
    at: Millis,
) -> Vec<super::records::Record> {
    use super::records::{ChainOf, Record};
    let held = |chain: Uuid| {
        chains
            .iter()
            .filter(|(c, _)| *c == chain)
            .map(|(_, n)| n)
            .sum()
    };
    let link = |chain: Uuid, detail: String| Record::Chained {
        id: Uuid::new_v4(),
        of: ChainOf::Organisation(chain),
        kind: "history_deleted",
        detail,
        at,
    };
    let mut out = vec![link(
        owner_chain,
        deleted_detail(sessions, seats, held(owner_chain), chat, documents),
    )];
    for &(chain, n) in chains {
        if chain != owner_chain && n > 0 {
            out.push(link(chain, deleted_detail(0, 0, n, 0, 0)));
        }
    }
    out
}

/// The links of an account's deletion: an `account_deleted` link in the
/// chain of its organisation (which outlives it if others are members),
/// and in each other chain that holds moderator actions of its
/// conferences, with how many each lost. A chain that goes with the
/// account takes its link along.
pub(super) fn account_deletion_links(
    organisation: Uuid,
    chains: &[(Uuid, i64)],
    conferences: usize,
    at: Millis,
) -> Vec<super::records::Record> {
    use super::records::{ChainOf, Record};
    let held = |chain: Uuid| -> i64 {
        chains
            .iter()
            .filter(|(c, _)| *c == chain)
            .map(|(_, n)| n)
            .sum()
    };
    let link = |chain: Uuid, detail: serde_json::Value| Record::Chained {
        id: Uuid::new_v4(),
        of: ChainOf::Organisation(chain),
        kind: "account_deleted",
        detail: detail.to_string(),
        at,
    };
    let mut out = vec![link(
        organisation,
        serde_json::json!({"conferences": conferences, "audit_entries": held(organisation)}),
    )];
    for &(chain, n) in chains {
        if chain != organisation && n > 0 {
            out.push(link(chain, serde_json::json!({"audit_entries": n})));
        }
    }
    out
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any size")
}

impl ChainKey {
    /// Derived from the server's HMAC key, so the chain shares no key with
    /// the other things that key signs.
    pub fn derive(hmac_key: &[u8]) -> ChainKey {
        let mut m = mac(hmac_key);
        m.update(b"conclave audit chain v1");
        ChainKey(m.finalize().into_bytes().into())
    }

    /// The key PostgreSQL computes a link's HMAC with, in its two halves:
    /// the key XOR ipad and XOR opad (RFC 2104), so the link is written by
    /// the one statement that reads the chain's last hash.
    pub fn pads(&self) -> (Vec<u8>, Vec<u8>) {
        let mut inner = vec![0x36u8; 64];
        let mut outer = vec![0x5cu8; 64];
        for (i, b) in self.0.iter().enumerate() {
            inner[i] ^= b;
            outer[i] ^= b;
        }
        (inner, outer)
    }

    /// What a link names its entry by: a pseudonym of the entry's id, so a
    /// deleted row's id is nowhere in the database.
    pub fn pseudonym(&self, id: Uuid) -> [u8; 32] {
        let mut m = mac(&self.0);
        m.update(b"entry");
        m.update(id.as_bytes());
        m.finalize().into_bytes().into()
    }

    /// A link's hash: HMAC over the previous hash, its position in the
    /// chain, the chain and the rest ([`link_rest`]).
    pub fn link_hash(&self, prev: &[u8], seq: i64, chain: Uuid, rest: &[u8]) -> [u8; 32] {
        let mut m = mac(&self.0);
        m.update(prev);
        m.update(&seq.to_be_bytes());
        m.update(chain.as_bytes());
        m.update(rest);
        m.finalize().into_bytes().into()
    }
}

/// Length-prefixed fields, so no two different entries encode alike.
struct Fields(Vec<u8>);

impl Fields {
    fn new() -> Self {
        Fields(Vec::with_capacity(128))
    }

    fn bytes(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(&(b.len() as u32).to_be_bytes());
        self.0.extend_from_slice(b);
        self
    }

    fn opt(self, s: Option<&str>) -> Self {
        match s {
            Some(s) => self.bytes(b"\x01").bytes(s.as_bytes()),
            None => self.bytes(b""),
        }
    }
}

/// What a link hashes after its position: its entry, kind, time and digest.
pub fn link_rest(entry: &[u8; 32], kind: &str, at: Millis, digest: &[u8; 32]) -> Vec<u8> {
    Fields::new()
        .bytes(entry)
        .bytes(kind.as_bytes())
        .bytes(&at.to_be_bytes())
        .bytes(digest)
        .0
}

/// An `audit_log` row as the chain fixes it.
#[derive(Clone, Copy)]
pub struct ModeratorEntry<'a> {
    pub id: Uuid,
    pub conference: Uuid,
    pub session: Uuid,
    pub actor: Uuid,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub detail: Option<&'a str>,
    pub at: Millis,
}

impl ModeratorEntry<'_> {
    pub fn digest(&self) -> [u8; 32] {
        let fields = Fields::new()
            .bytes(self.id.as_bytes())
            .bytes(self.conference.as_bytes())
            .bytes(self.session.as_bytes())
            .bytes(self.actor.as_bytes())
            .bytes(self.action.as_bytes())
            .opt(self.target)
            .opt(self.detail)
            .bytes(&self.at.to_be_bytes());
        Sha256::digest(&fields.0).into()
    }
}

/// The chain a link goes to, as the statement that appends it finds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LinkTo {
    /// The organisation of the conference's owner.
    Conference(Uuid),
    /// The organisation of the account.
    Account(Uuid),
    /// The organisation itself.
    Organisation(Uuid),
}

/// What a record that is a link puts in its link.
pub(super) struct Linked {
    /// Whose chain: a moderator action's conference (its owner's
    /// organisation), or a `Chained` record's.
    pub to: LinkTo,
    pub id: Uuid,
    pub kind: &'static str,
    pub detail: Option<String>,
    pub at: Millis,
    pub digest: [u8; 32],
}

/// The link a record asks for, if it is one: a moderator action's
/// `Audit`, or a `Chained` record.
pub(super) fn linked(r: &super::records::Record) -> Option<Linked> {
    use super::records::Record;
    match r {
        Record::Audit {
            id,
            conference,
            session,
            actor,
            action,
            target,
            detail,
            at,
        } => {
            let entry = ModeratorEntry {
                id: *id,
                conference: *conference,
                session: *session,
                actor: *actor,
                action,
                target: target.as_deref(),
                detail: detail.as_deref(),
                at: *at,
            };
            Some(Linked {
                to: LinkTo::Conference(*conference),
                id: *id,
                kind: MODERATOR,
                detail: None,
                at: *at,
                digest: entry.digest(),
            })
        }
        Record::Chained {
            id,
            of,
            kind,
            detail,
            at,
        } => Some(Linked {
            to: match *of {
                super::records::ChainOf::Account(a) => LinkTo::Account(a),
                super::records::ChainOf::Organisation(o) => LinkTo::Organisation(o),
            },
            id: *id,
            kind,
            detail: Some(detail.clone()),
            at: *at,
            digest: detail_digest(detail),
        }),
        _ => None,
    }
}

/// The digest of a link that carries its own detail.
pub fn detail_digest(detail: &str) -> [u8; 32] {
    Sha256::digest(detail.as_bytes()).into()
}

/// One link as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub chain: Uuid,
    pub seq: i64,
    pub entry: Vec<u8>,
    pub kind: String,
    /// For links other than moderator actions: what was done (counts only).
    pub detail: Option<String>,
    pub at: Millis,
    pub digest: Vec<u8>,
    pub prev: Vec<u8>,
    pub hash: Vec<u8>,
}

impl Link {
    /// The link that follows `prev` (hash and position) in `chain`.
    #[allow(clippy::too_many_arguments)]
    pub fn next(
        key: &ChainKey,
        chain: Uuid,
        prev: Option<(i64, &[u8])>,
        entry: [u8; 32],
        kind: &str,
        detail: Option<String>,
        at: Millis,
        digest: [u8; 32],
    ) -> Link {
        let (seq, prev) = prev.map_or((1, GENESIS.to_vec()), |(s, h)| (s + 1, h.to_vec()));
        let hash = key.link_hash(&prev, seq, chain, &link_rest(&entry, kind, at, &digest));
        Link {
            chain,
            seq,
            entry: entry.to_vec(),
            kind: kind.to_owned(),
            detail,
            at,
            digest: digest.to_vec(),
            prev,
            hash: hash.to_vec(),
        }
    }
}

pub use super::chain_verifier::{Broken, Verifier};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pads_are_hmac_in_two_halves() {
        let k = ChainKey::derive(b"test");
        let (inner, outer) = k.pads();
        let msg = b"prev, position, chain and rest";
        let mut i = Sha256::new();
        i.update(&inner);
        i.update(msg);
        let mut o = Sha256::new();
        o.update(&outer);
        o.update(i.finalize());
        let mut m = mac(&k.0);
        m.update(msg);
        assert_eq!(o.finalize().to_vec(), m.finalize().into_bytes().to_vec());
    }
}
