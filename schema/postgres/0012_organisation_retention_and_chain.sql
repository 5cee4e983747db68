-- Retention and the audit chain belong to the organisation (docs/organisations.md):
-- an admin sets how long every member's summaries and chat are kept, and
-- every member's moderator actions, deletions and exports are links of
-- one chain. An account's own organisation has its id, so what an account
-- had set moves to its own organisation, and its chain keeps its id.
ALTER TABLE organisations ADD COLUMN retention_summary_days INTEGER;
ALTER TABLE organisations ADD COLUMN retention_chat_days INTEGER;
UPDATE organisations o SET retention_summary_days = a.retention_summary_days,
                           retention_chat_days = a.retention_chat_days
  FROM accounts a WHERE a.id = o.id;
ALTER TABLE accounts DROP COLUMN retention_summary_days;
ALTER TABLE accounts DROP COLUMN retention_chat_days;

-- A chain lasts as long as its organisation: an organisation's own chain
-- outlives a member (or its founder) who deletes their account.
ALTER TABLE audit_chain DROP CONSTRAINT audit_chain_chain_id_fkey;
ALTER TABLE audit_chain ADD CONSTRAINT audit_chain_chain_id_fkey
  FOREIGN KEY (chain_id) REFERENCES organisations(id) ON DELETE CASCADE;

-- Which chain each moderator action is a link of, set as it is written:
-- the verifier checks a chain against exactly its rows, and a deletion
-- tells each chain how many of its rows it removed, even when the
-- conference's owner has changed organisation since. Rows written before
-- this were chained in their owner's own chain, which has its id.
ALTER TABLE audit_log ADD COLUMN chain_id UUID;
UPDATE audit_log l SET chain_id = c.account_id FROM conferences c WHERE c.id = l.conference_id;
CREATE INDEX audit_log_chain ON audit_log(chain_id, id);
