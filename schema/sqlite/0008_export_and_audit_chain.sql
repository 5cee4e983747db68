-- The account export reads a conference's documents a page at a time, in
-- upload order.
CREATE INDEX documents_conference ON documents(conference_id, uploaded_at);

-- The tamper-evident audit chain (src/store/audit_chain.rs): one chain per
-- account. A link holds a keyed pseudonym of its entry and a digest of it,
-- never the entry itself; `detail` only on links that are not moderator
-- actions (deletions, erasures, exports: counts only).
CREATE TABLE audit_chain (
    chain_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    entry     BLOB NOT NULL UNIQUE,
    kind      TEXT NOT NULL,
    detail    TEXT,
    at        INTEGER NOT NULL,
    digest    BLOB NOT NULL,
    prev      BLOB NOT NULL,
    hash      BLOB NOT NULL,
    PRIMARY KEY (chain_id, seq)
);
