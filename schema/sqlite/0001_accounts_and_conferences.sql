-- Accounts, sign-in sessions, conferences (lines and scheduled) and access codes.
-- Mirrors schema/postgres/: UUIDs are TEXT, times are INTEGER milliseconds
-- since the Unix epoch, byte strings are BLOB.

CREATE TABLE accounts (
    id                  TEXT PRIMARY KEY,
    email               TEXT NOT NULL UNIQUE,
    display_name        TEXT NOT NULL,
    password_hash       TEXT NOT NULL,
    moderator_pin_hash  TEXT NOT NULL,
    -- Keyed hash (HMAC-SHA256) of the default security code; never the code.
    default_security    BLOB,
    created_at          INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash  BLOB PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX sessions_account ON sessions(account_id);

CREATE TABLE conferences (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    kind             TEXT NOT NULL CHECK (kind IN ('line', 'scheduled')),
    title            TEXT NOT NULL,
    starts_at        INTEGER,
    ends_at          INTEGER,
    security         BLOB,
    security_source  TEXT NOT NULL CHECK (security_source IN ('none', 'default', 'own')),
    created_at       INTEGER NOT NULL
);
CREATE UNIQUE INDEX conferences_one_line ON conferences(account_id) WHERE kind = 'line';
CREATE INDEX conferences_account ON conferences(account_id, starts_at);

-- One namespace for every access code, live or retired: a retired code is
-- never handed out again, so an old invitation can never reach someone else.
CREATE TABLE access_codes (
    code           TEXT PRIMARY KEY,
    conference_id  TEXT NOT NULL REFERENCES conferences(id) ON DELETE CASCADE,
    created_at     INTEGER NOT NULL,
    retired_at     INTEGER
);
CREATE UNIQUE INDEX access_codes_one_active ON access_codes(conference_id) WHERE retired_at IS NULL;
