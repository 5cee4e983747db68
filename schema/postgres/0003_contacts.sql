-- Each account's address book of callers: the name a moderator gave a
-- phone number, shown when that number calls again. The number is sealed
-- with the server's encryption key and found by its keyed hash.

CREATE TABLE contacts (
    account_id     UUID NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    number_index   TEXT NOT NULL,
    number_sealed  BYTEA NOT NULL,
    name           TEXT NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account_id, number_index)
);
