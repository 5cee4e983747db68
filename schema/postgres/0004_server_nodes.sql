-- Which server opened each session, and when each server was last alive, so
-- that sessions a crashed server left open get closed (docs/persistence.md,
-- "After a crash"). Sessions from before this migration have no node.

CREATE TABLE server_nodes (
    id            UUID PRIMARY KEY,
    heartbeat_at  TIMESTAMPTZ NOT NULL
);

ALTER TABLE conference_sessions ADD COLUMN node_id UUID;
CREATE INDEX conference_sessions_open ON conference_sessions(node_id) WHERE ended_at IS NULL;
