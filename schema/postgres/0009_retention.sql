-- Retention (docs/privacy.md "Retention"): the account deletes its
-- summaries, and separately its chat, once older than this many days;
-- NULL keeps them until deleted by hand.
ALTER TABLE accounts ADD COLUMN retention_summary_days INTEGER;
ALTER TABLE accounts ADD COLUMN retention_chat_days INTEGER;
