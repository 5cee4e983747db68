-- What live rooms leave behind: one summary per live session, attendance,
-- the moderator audit log, chat, document metadata, and the room state that
-- must survive restarts (lock, permissions, blocks). Written by the
-- persister; every insert is keyed by an id minted before the write, so a
-- batch retried after an outage never doubles a row.

CREATE TABLE conference_sessions (
    id             UUID PRIMARY KEY,
    conference_id  UUID NOT NULL REFERENCES conferences(id) ON DELETE CASCADE,
    started_at     TIMESTAMPTZ NOT NULL,
    ended_at       TIMESTAMPTZ
);
CREATE INDEX conference_sessions_conference ON conference_sessions(conference_id, started_at);

-- One row per seat: a resumed connection keeps its seat, so its row.
CREATE TABLE attendance (
    participant_id  UUID PRIMARY KEY,
    session_id      UUID NOT NULL REFERENCES conference_sessions(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    endpoint        TEXT NOT NULL CHECK (endpoint IN ('web', 'phone')),
    -- Phone number sealed with the server's encryption key (nonce || ciphertext).
    phone_sealed    BYTEA,
    role            TEXT NOT NULL CHECK (role IN ('moderator', 'participant')),
    joined_at       TIMESTAMPTZ NOT NULL,
    left_at         TIMESTAMPTZ,
    left_reason     TEXT
);
CREATE INDEX attendance_session ON attendance(session_id, joined_at);

CREATE TABLE audit_log (
    id             UUID PRIMARY KEY,
    conference_id  UUID NOT NULL REFERENCES conferences(id) ON DELETE CASCADE,
    session_id     UUID NOT NULL REFERENCES conference_sessions(id) ON DELETE CASCADE,
    actor          UUID NOT NULL,
    action         TEXT NOT NULL,
    target         TEXT,
    detail         TEXT,
    at             TIMESTAMPTZ NOT NULL,
    -- Write order, which is the order the room acted in.
    n              BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX audit_log_conference ON audit_log(conference_id, n);

-- A deleted message keeps its row as a tombstone: text NULL.
CREATE TABLE chat_messages (
    id             UUID PRIMARY KEY,
    conference_id  UUID NOT NULL REFERENCES conferences(id) ON DELETE CASCADE,
    session_id     UUID NOT NULL REFERENCES conference_sessions(id) ON DELETE CASCADE,
    sender         UUID NOT NULL,
    sender_name    TEXT NOT NULL,
    text           TEXT,
    posted_at      TIMESTAMPTZ NOT NULL,
    deleted_at     TIMESTAMPTZ,
    -- Write order, which is posting order: the persister is the one writer.
    n              BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX chat_messages_conference ON chat_messages(conference_id, n);

CREATE TABLE documents (
    id             UUID PRIMARY KEY,
    conference_id  UUID NOT NULL REFERENCES conferences(id) ON DELETE CASCADE,
    session_id     UUID NOT NULL REFERENCES conference_sessions(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    size           BIGINT NOT NULL,
    uploaded_by    UUID NOT NULL,
    uploaded_at    TIMESTAMPTZ NOT NULL,
    removed_at     TIMESTAMPTZ
);

CREATE TABLE room_state (
    conference_id  UUID PRIMARY KEY REFERENCES conferences(id) ON DELETE CASCADE,
    locked         BOOLEAN NOT NULL DEFAULT FALSE,
    chat           TEXT NOT NULL DEFAULT 'everyone' CHECK (chat IN ('everyone', 'moderators')),
    share          TEXT NOT NULL DEFAULT 'everyone' CHECK (share IN ('everyone', 'moderators')),
    updated_at     TIMESTAMPTZ NOT NULL
);

-- identities: a JSON array of {"kind": "account"|"device"|"phone", "value": ...};
-- phone values are keyed hashes, never numbers.
CREATE TABLE room_blocks (
    id             UUID PRIMARY KEY,
    conference_id  UUID NOT NULL REFERENCES conferences(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    identities     TEXT NOT NULL,
    blocked_by     UUID NOT NULL,
    blocked_at     TIMESTAMPTZ NOT NULL,
    lifted_at      TIMESTAMPTZ
);
CREATE INDEX room_blocks_conference ON room_blocks(conference_id) WHERE lifted_at IS NULL;
