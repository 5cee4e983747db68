-- Webhooks (docs/webhooks.md): an account's endpoints, the events written
-- with the room history (the outbox), and one delivery per endpoint and
-- event. Times in milliseconds since the Unix epoch.

CREATE TABLE webhook_endpoints (
    id             UUID PRIMARY KEY,
    account_id     UUID NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    url            TEXT NOT NULL,
    -- The event types it wants, as ",type,type," so one `position` finds one.
    events         TEXT NOT NULL,
    -- The signing secret, sealed with the server's encryption key.
    secret_sealed  BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    deleted_at     BIGINT
);
CREATE INDEX webhook_endpoints_account ON webhook_endpoints(account_id) WHERE deleted_at IS NULL;

-- `seq` orders a conference's events: one node writes a conference's
-- history at a time, one batch after another.
CREATE TABLE webhook_events (
    seq            BIGSERIAL PRIMARY KEY,
    id             UUID NOT NULL UNIQUE,
    conference_id  UUID NOT NULL,
    type           TEXT NOT NULL,
    body           TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    endpoint_id      UUID NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_seq        BIGINT NOT NULL REFERENCES webhook_events(seq) ON DELETE CASCADE,
    conference_id    UUID NOT NULL,
    -- pending, delivered or failed (the last attempt failed; kept to inspect).
    state            TEXT NOT NULL DEFAULT 'pending',
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    lease_until      BIGINT,
    last_status      INTEGER,
    last_error       TEXT,
    finished_at      BIGINT,
    PRIMARY KEY (endpoint_id, event_seq)
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries(endpoint_id, conference_id, event_seq) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_event ON webhook_deliveries(event_seq);
