-- Retention and the audit chain belong to the organisation (docs/organisations.md):
-- an admin sets how long every member's summaries and chat are kept, and
-- every member's moderator actions, deletions and exports are links of
-- one chain. An account's own organisation has its id, so what an account
-- had set moves to its own organisation, and its chain keeps its id.
ALTER TABLE organisations ADD COLUMN retention_summary_days INTEGER;
ALTER TABLE organisations ADD COLUMN retention_chat_days INTEGER;
UPDATE organisations SET
  retention_summary_days = (SELECT a.retention_summary_days FROM accounts a WHERE a.id = organisations.id),
  retention_chat_days = (SELECT a.retention_chat_days FROM accounts a WHERE a.id = organisations.id);
ALTER TABLE accounts DROP COLUMN retention_summary_days;
ALTER TABLE accounts DROP COLUMN retention_chat_days;

-- A chain lasts as long as its organisation: an organisation's own chain
-- outlives a member (or its founder) who deletes their account. SQLite
-- changes a foreign key by building the table again.
CREATE TABLE audit_chain_by_organisation (
    chain_id  TEXT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
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
INSERT INTO audit_chain_by_organisation SELECT * FROM audit_chain;
DROP TABLE audit_chain;
ALTER TABLE audit_chain_by_organisation RENAME TO audit_chain;

-- Which chain each moderator action is a link of, set as it is written:
-- the verifier checks a chain against exactly its rows, and a deletion
-- tells each chain how many of its rows it removed, even when the
-- conference's owner has changed organisation since. Rows written before
-- this were chained in their owner's own chain, which has its id.
ALTER TABLE audit_log ADD COLUMN chain_id TEXT;
UPDATE audit_log SET chain_id = (SELECT c.account_id FROM conferences c WHERE c.id = audit_log.conference_id);
CREATE INDEX audit_log_chain ON audit_log(chain_id, id);
