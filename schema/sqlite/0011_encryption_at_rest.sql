-- Encryption at rest (docs/encryption.md). Each summary has its own data
-- key, wrapped (sealed) by the server's encryption key and kept only
-- here: deleting the summary's row destroys the key, and with it every
-- name, chat message, document and recording sealed under it.
-- NULL for summaries written before this migration, kept in clear.
ALTER TABLE conference_sessions ADD COLUMN data_key BLOB;

-- Proof of which encryption key sealed this database: a constant sealed
-- with it. A server started with another key refuses to start, and key
-- rotation replaces the row in the transaction that re-wraps the keys.
CREATE TABLE key_checks (
    name    TEXT PRIMARY KEY,
    sealed  BLOB NOT NULL
);
