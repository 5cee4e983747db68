-- API keys (docs/tokens.md): an application's credential to mint join
-- tokens for its account's conferences. Only the key's hash is kept.

CREATE TABLE api_keys (
    id          UUID PRIMARY KEY,
    account_id  UUID NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    key_hash    BYTEA NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX api_keys_account ON api_keys(account_id);
