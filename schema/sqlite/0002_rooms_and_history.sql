-- What live rooms leave behind: one summary per live session, attendance,
-- the moderator audit log, chat, document metadata, and the room state that
-- must survive restarts (lock, permissions, blocks). Written by the
-- persister; every insert is keyed by an id minted before the write, so a
-- batch retried after an outage never doubles a row.
-- Mirrors schema/postgres/0002: UUIDs are TEXT, times are INTEGER
-- milliseconds since the Unix epoch, booleans INTEGER 0/1.

CREATE TABLE conference_sessions (
    id             TEXT PRIMARY KEY,
    conference_id  TEXT NOT NULL REFERENCES conferences(id) ON DELETE CASCADE,
    started_at     INTEGER NOT NULL,
    ended_at       INTEGER
);
CREATE INDEX conference_sessions_conference ON conference_sessions(conference_id, started_at);

-- One row per seat: a resumed connection keeps its seat, so its row.
CREATE TABLE attendance (
    participant_id  TEXT PRIMARY KEY,
    session_id      TEXT NOT NULL REFERENCES conference_sessions(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    endpoint        TEXT NOT NULL CHECK (endpoint IN ('web', 'phone')),
    -- Phone number sealed with the server's encryption key (nonce || ciphertext).
    phone_sealed    BLOB,
    role            TEXT NOT NULL CHECK (role IN ('moderator', 'participant')),
    joined_at       INTEGER NOT NULL,
    left_at         INTEGER,
    left_reason     TEXT
);
CREATE INDEX attendance_session ON attendance(session_id, joined_at);

CREATE TABLE audit_log (
    id             TEXT PRIMARY KEY,
    conference_id  TEXT NOT NULL REFERENCES conferences(id) ON DELETE CASCADE,
    session_id     TEXT NOT NULL REFERENCES conference_sessions(id) ON DELETE CASCADE,
    actor          TEXT NOT NULL,
    action         TEXT NOT NULL,
    target         TEXT,
    detail         TEXT,
    at             INTEGER NOT NULL
);
-- rowid is write order, which is the order the room acted in.
CREATE INDEX audit_log_conference ON audit_log(conference_id);

-- A deleted message keeps its row as a tombstone: text NULL.
CREATE TABLE chat_messages (
    id             TEXT PRIMARY KEY,
    conference_id  TEXT NOT NULL REFERENCES conferences(id) ON DELETE CASCADE,
    session_id     TEXT NOT NULL REFERENCES conference_sessions(id) ON DELETE CASCADE,
    sender         TEXT NOT NULL,
    sender_name    TEXT NOT NULL,
    text           TEXT,
    posted_at      INTEGER NOT NULL,
    deleted_at     INTEGER
);
-- rowid is write order, which is posting order: the persister is the one writer.
CREATE INDEX chat_messages_conference ON chat_messages(conference_id);

CREATE TABLE documents (
    id             TEXT PRIMARY KEY,
    conference_id  TEXT NOT NULL REFERENCES conferences(id) ON DELETE CASCADE,
    session_id     TEXT NOT NULL REFERENCES conference_sessions(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    size           INTEGER NOT NULL,
    uploaded_by    TEXT NOT NULL,
    uploaded_at    INTEGER NOT NULL,
    removed_at     INTEGER
);

CREATE TABLE room_state (
    conference_id  TEXT PRIMARY KEY REFERENCES conferences(id) ON DELETE CASCADE,
    locked         INTEGER NOT NULL DEFAULT 0,
    chat           TEXT NOT NULL DEFAULT 'everyone' CHECK (chat IN ('everyone', 'moderators')),
    share          TEXT NOT NULL DEFAULT 'everyone' CHECK (share IN ('everyone', 'moderators')),
    updated_at     INTEGER NOT NULL
);

-- identities: a JSON array of {"kind": "account"|"device"|"phone", "value": ...};
-- phone values are keyed hashes, never numbers.
CREATE TABLE room_blocks (
    id             TEXT PRIMARY KEY,
    conference_id  TEXT NOT NULL REFERENCES conferences(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    identities     TEXT NOT NULL,
    blocked_by     TEXT NOT NULL,
    blocked_at     INTEGER NOT NULL,
    lifted_at      INTEGER
);
CREATE INDEX room_blocks_conference ON room_blocks(conference_id) WHERE lifted_at IS NULL;
