-- Organisations (docs/organisations.md): every account belongs to one. Its
-- own, made with it, has the account's id and no name until its admin gives
-- it one.
CREATE TABLE organisations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);
INSERT INTO organisations (id, created_at) SELECT id, created_at FROM accounts;
-- SQLite cannot add a NOT NULL column without a default: the store always
-- writes it, and every existing account is given its own here.
ALTER TABLE accounts ADD COLUMN organisation_id TEXT REFERENCES organisations(id);
UPDATE accounts SET organisation_id = id;
ALTER TABLE accounts ADD COLUMN organisation_role TEXT NOT NULL DEFAULT 'admin';
CREATE INDEX accounts_organisation ON accounts(organisation_id);

-- An admin's invitation to an e-mail address, until its owner accepts it
-- or an admin revokes it.
CREATE TABLE organisation_invitations (
    id               TEXT PRIMARY KEY,
    organisation_id  TEXT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    email            TEXT NOT NULL,
    invited_by       TEXT REFERENCES accounts(id) ON DELETE SET NULL,
    created_at       INTEGER NOT NULL,
    UNIQUE (organisation_id, email)
);
CREATE INDEX organisation_invitations_email ON organisation_invitations(email);
