-- Each account's address book of callers: the name a moderator gave a
-- phone number, shown when that number calls again. The number is sealed
-- with the server's encryption key and found by its keyed hash.
-- Mirrors schema/postgres/0003.

CREATE TABLE contacts (
    account_id     TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    number_index   TEXT NOT NULL,
    number_sealed  BLOB NOT NULL,
    name           TEXT NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (account_id, number_index)
);
