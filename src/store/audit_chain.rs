//! The tamper-evident audit chain (docs/privacy.md "The audit chain"):
//! every moderator action, and every deletion, erasure and export, is a
//! link of its account's chain, keyed by HMAC-SHA256 over the previous
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
    /// Every account, each with its chain (possibly empty), in id order.
    async fn chain_accounts(&self) -> StoreResult<Vec<Uuid>>;
    /// The account's links after position `after`, in order.
    async fn chain_links(&self, chain: Uuid, after: i64, limit: u32) -> StoreResult<Vec<Link>>;
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

/// What a record that is a link puts in its link.
pub(super) struct Linked {
    /// The conference of a moderator action, whose account is the chain;
    /// `None` when `owner` is the account itself.
    pub conference: Option<Uuid>,
    pub owner: Uuid,
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
                conference: Some(*conference),
                owner: *conference,
                id: *id,
                kind: MODERATOR,
                detail: None,
                at: *at,
                digest: entry.digest(),
            })
        }
        Record::Chained {
            id,
            account,
            kind,
            detail,
            at,
        } => Some(Linked {
            conference: None,
            owner: *account,
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

/// How many moderator actions a deletion link says it removed, from its
/// detail (`{"audit_entries": N, ...}`).
fn audit_entries_removed(detail: Option<&str>) -> u64 {
    detail
        .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .and_then(|v| v["audit_entries"].as_u64())
        .unwrap_or(0)
}

/// The first thing wrong with a chain, as the verifier reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Broken {
    /// The link at `seq` is not where the one before it says (a link
    /// removed, or positions edited).
    Gap { seq: i64, expected: i64 },
    /// The link at `seq` does not carry the previous link's hash.
    Prev { seq: i64 },
    /// The link at `seq` has been edited (its HMAC does not match).
    Hash { seq: i64 },
    /// The link at `seq` carries a detail that is not the one it was
    /// written with.
    Detail { seq: i64 },
    /// The `audit_log` row `id` was changed after it was chained at `seq`.
    Row { id: Uuid, seq: i64 },
    /// The `audit_log` row `id` is in no link: added outside the server.
    Unchained { id: Uuid },
    /// More chained moderator actions are missing from `audit_log` than
    /// the chain's deletions removed.
    Missing { missing: u64, deleted: u64 },
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Broken::Gap { seq, expected } => {
                write!(f, "link {seq} follows where link {expected} should be: links were removed or renumbered")
            }
            Broken::Prev { seq } => write!(f, "link {seq} does not carry the hash of the link before it"),
            Broken::Hash { seq } => write!(f, "link {seq} was edited: its HMAC does not match"),
            Broken::Detail { seq } => write!(f, "link {seq}'s detail was edited"),
            Broken::Row { id, seq } => {
                write!(f, "audit_log row {id} was changed after link {seq} chained it")
            }
            Broken::Unchained { id } => {
                write!(f, "audit_log row {id} is in no link: it was added outside the server")
            }
            Broken::Missing { missing, deleted } => write!(
                f,
                "{missing} chained moderator actions are gone from audit_log, but the chain's deletions removed {deleted}"
            ),
        }
    }
}

/// Checks one chain link by link, in order, against the `audit_log` rows
/// of the chain's account (by pseudonym: the row's id and its digest now).
pub struct Verifier<'a> {
    key: &'a ChainKey,
    chain: Uuid,
    rows: std::collections::HashMap<[u8; 32], (Uuid, [u8; 32])>,
    last: Option<(i64, Vec<u8>)>,
    missing: u64,
    deleted: u64,
    pub links: u64,
}

impl<'a> Verifier<'a> {
    pub fn new(key: &'a ChainKey, chain: Uuid) -> Self {
        Verifier {
            key,
            chain,
            rows: Default::default(),
            last: None,
            missing: 0,
            deleted: 0,
            links: 0,
        }
    }

    /// An `audit_log` row of the account, as it reads now.
    pub fn row(&mut self, row: &ModeratorEntry<'_>) {
        self.rows
            .insert(self.key.pseudonym(row.id), (row.id, row.digest()));
    }

    /// The next link, in order; the first fault found ends the check.
    pub fn link(&mut self, link: &Link) -> Result<(), Broken> {
        let seq = link.seq;
        let expected = self.last.as_ref().map_or(1, |(s, _)| s + 1);
        if seq != expected {
            return Err(Broken::Gap { seq, expected });
        }
        let prev = self
            .last
            .as_ref()
            .map_or(&GENESIS[..], |(_, h)| h.as_slice());
        if link.prev != prev {
            return Err(Broken::Prev { seq });
        }
        let (Ok(entry), Ok(digest)) = (
            <[u8; 32]>::try_from(link.entry.as_slice()),
            <[u8; 32]>::try_from(link.digest.as_slice()),
        ) else {
            return Err(Broken::Hash { seq });
        };
        let want = self.key.link_hash(
            prev,
            seq,
            self.chain,
            &link_rest(&entry, &link.kind, link.at, &digest),
        );
        if link.hash != want {
            return Err(Broken::Hash { seq });
        }
        if link.kind == MODERATOR {
            match self.rows.remove(&entry) {
                Some((id, now)) if now != digest => return Err(Broken::Row { id, seq }),
                Some(_) => {}
                None => self.missing += 1,
            }
        } else {
            if link.detail.as_deref().map(detail_digest) != Some(digest) {
                return Err(Broken::Detail { seq });
            }
            self.deleted += audit_entries_removed(link.detail.as_deref());
        }
        self.last = Some((seq, link.hash.clone()));
        self.links += 1;
        Ok(())
    }

    /// After the last link: rows no link holds, and rows gone that no
    /// deletion accounts for.
    pub fn finish(self) -> Result<u64, Broken> {
        if let Some(id) = self.rows.values().map(|(id, _)| *id).min() {
            return Err(Broken::Unchained { id });
        }
        if self.missing > self.deleted {
            return Err(Broken::Missing {
                missing: self.missing,
                deleted: self.deleted,
            });
        }
        Ok(self.links)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ChainKey {
        ChainKey::derive(b"a server key")
    }

    fn entry(action: &str) -> ModeratorEntry<'_> {
        ModeratorEntry {
            id: Uuid::new_v4(),
            conference: Uuid::new_v4(),
            session: Uuid::new_v4(),
            actor: Uuid::new_v4(),
            action,
            target: None,
            detail: Some("chat=moderators"),
            at: 1_700_000_000_000,
        }
    }

    /// A chain of `rows` as moderator links, then one deletion link.
    fn chain(key: &ChainKey, chain: Uuid, rows: &[ModeratorEntry<'_>]) -> Vec<Link> {
        let mut links: Vec<Link> = Vec::new();
        for r in rows {
            let prev = links.last().map(|l| (l.seq, l.hash.as_slice()));
            let l = Link::next(
                key,
                chain,
                prev,
                key.pseudonym(r.id),
                MODERATOR,
                None,
                r.at,
                r.digest(),
            );
            links.push(l);
        }
        let detail = r#"{"audit_entries":1}"#.to_owned();
        let prev = links.last().map(|l| (l.seq, l.hash.as_slice()));
        let l = Link::next(
            key,
            chain,
            prev,
            key.pseudonym(Uuid::new_v4()),
            "history_deleted",
            Some(detail.clone()),
            5,
            detail_digest(&detail),
        );
        links.push(l);
        links
    }

    fn verify(
        key: &ChainKey,
        c: Uuid,
        rows: &[ModeratorEntry<'_>],
        links: &[Link],
    ) -> Result<u64, Broken> {
        let mut v = Verifier::new(key, c);
        for r in rows {
            v.row(r);
        }
        for l in links {
            v.link(l)?;
        }
        v.finish()
    }

    #[test]
    fn an_untouched_chain_passes_and_each_kind_of_tampering_is_named() {
        let (k, c) = (key(), Uuid::new_v4());
        let rows = [entry("lock"), entry("unlock"), entry("mute")];
        let links = chain(&k, c, &rows);
        assert_eq!(verify(&k, c, &rows, &links), Ok(4));

        // A row edited in the database.
        let mut edited = rows;
        edited[1].action = "lock";
        assert_eq!(
            verify(&k, c, &edited, &links),
            Err(Broken::Row {
                id: rows[1].id,
                seq: 2
            })
        );

        // A row added outside the server.
        let extra = entry("unlock");
        let with_extra = [rows[0], rows[1], rows[2], extra];
        assert_eq!(
            verify(&k, c, &with_extra, &links),
            Err(Broken::Unchained { id: extra.id })
        );

        // A row deleted: one is accounted for by the deletion link, two are not.
        assert_eq!(verify(&k, c, &rows[1..], &links), Ok(4));
        assert_eq!(
            verify(&k, c, &rows[2..], &links),
            Err(Broken::Missing {
                missing: 2,
                deleted: 1
            })
        );

        // Links edited, removed or forged without the key.
        let mut l = links.clone();
        l[1].at += 1;
        assert_eq!(verify(&k, c, &rows, &l), Err(Broken::Hash { seq: 2 }));
        let mut l = links.clone();
        l[3].detail = Some(r#"{"audit_entries":9}"#.into());
        assert_eq!(verify(&k, c, &rows, &l), Err(Broken::Detail { seq: 4 }));
        let mut l = links.clone();
        l.remove(1);
        assert_eq!(
            verify(&k, c, &rows, &l),
            Err(Broken::Gap {
                seq: 3,
                expected: 2
            })
        );
        let forged = chain(&ChainKey::derive(b"another key"), c, &rows);
        assert_eq!(verify(&k, c, &rows, &forged), Err(Broken::Hash { seq: 1 }));
        let mut l = links.clone();
        l[2].prev = l[0].hash.clone();
        assert_eq!(verify(&k, c, &rows, &l), Err(Broken::Prev { seq: 3 }));
    }

    #[test]
    fn the_pads_are_hmac_in_two_halves() {
        let k = key();
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
