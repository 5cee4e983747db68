-- Mirrors schema/postgres/0007: webhook endpoints, the outbox and its
-- deliveries (times in milliseconds).

CREATE TABLE webhook_endpoints (
    id             TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    url            TEXT NOT NULL,
    events         TEXT NOT NULL,
    secret_sealed  BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    deleted_at     INTEGER
);
CREATE INDEX webhook_endpoints_account ON webhook_endpoints(account_id) WHERE deleted_at IS NULL;

CREATE TABLE webhook_events (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    conference_id  TEXT NOT NULL,
    type           TEXT NOT NULL,
    body           TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_seq        INTEGER NOT NULL REFERENCES webhook_events(seq) ON DELETE CASCADE,
    conference_id    TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'pending',
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    lease_until      INTEGER,
    last_status      INTEGER,
    last_error       TEXT,
    finished_at      INTEGER,
    PRIMARY KEY (endpoint_id, event_seq)
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries(endpoint_id, conference_id, event_seq) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_event ON webhook_deliveries(event_seq);
