-- Mirrors schema/postgres/0004: which server opened each session, and when
-- each server was last alive (times in milliseconds since the Unix epoch).

CREATE TABLE server_nodes (
    id            TEXT PRIMARY KEY,
    heartbeat_at  INTEGER NOT NULL
);

ALTER TABLE conference_sessions ADD COLUMN node_id TEXT;
CREATE INDEX conference_sessions_open ON conference_sessions(node_id) WHERE ended_at IS NULL;
