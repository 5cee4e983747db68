//! Checking one audit chain (src/store/audit_chain.rs): link by link, in
//! order, against the `audit_log` rows chained in it.

use uuid::Uuid;

use super::audit_chain::{
    detail_digest, link_rest, ChainKey, Link, ModeratorEntry, GENESIS, MODERATOR,
};

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
/// chained in it (by pseudonym: the row's id and its digest now).
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

    /// An `audit_log` row chained in this chain, as it reads now.
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
}
