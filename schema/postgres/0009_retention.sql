-- Retention (docs/privacy.md "Retention"): the account deletes its
-- summaries, and separately its chat, once older than this many days;
-- NULL keeps them until deleted by hand.
ALTER TABLE accounts ADD COLUMN retention_summary_days INTEGER;
ALTER TABLE accounts ADD COLUMN retention_chat_days INTEGER;

-- Deleting a summary cascades from its sessions to their audit entries,
-- chat and documents: without these, every deleted session scanned those
-- tables whole (5,000 summaries took 39 s; docs/performance.md).
CREATE INDEX audit_log_session ON audit_log(session_id);
CREATE INDEX chat_messages_session ON chat_messages(session_id);
CREATE INDEX documents_session ON documents(session_id);
