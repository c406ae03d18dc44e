-- Initial schema: tenants, issuing authorities, their signing keys, and API credentials.
-- Append-only: never edit this file once merged; see migrations/README.md.
--
-- Encodings (the store converts; keep them for every new table):
--   UUID       TEXT, lowercase hyphenated (36 chars)
--   timestamp  TEXT, UTC, fixed width 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (microseconds), so that
--              text order is time order and comparisons work without conversion
--   JSON       TEXT
--   bytes      BLOB

CREATE TABLE tenants (
    id          TEXT NOT NULL PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    CONSTRAINT tenants_name_key UNIQUE (name)
) STRICT;

CREATE TABLE authorities (
    id          TEXT NOT NULL PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    did         TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    CONSTRAINT authorities_did_key UNIQUE (did)
) STRICT;

CREATE INDEX authorities_tenant_idx ON authorities (tenant_id, created_at);

-- authority_id NULL marks a service key (e.g. the key that signs API access tokens).
-- private_key_enc is AEAD ciphertext produced outside the store; kek_id names the key that
-- encrypted it.
CREATE TABLE signing_keys (
    id                TEXT NOT NULL PRIMARY KEY,
    authority_id      TEXT NULL REFERENCES authorities (id),
    purpose           TEXT NOT NULL,
    kid               TEXT NOT NULL,
    alg               TEXT NOT NULL,
    state             TEXT NOT NULL,
    public_jwk        TEXT NOT NULL,
    private_key_enc   BLOB NOT NULL,
    kek_id            TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    state_changed_at  TEXT NOT NULL,
    CONSTRAINT signing_keys_purpose_check CHECK (purpose IN ('authority', 'access_token')),
    CONSTRAINT signing_keys_state_check CHECK (state IN ('active', 'retiring', 'revoked')),
    CONSTRAINT signing_keys_owner_check CHECK (purpose <> 'authority' OR authority_id IS NOT NULL)
) STRICT;

-- A NULL authority_id would make every service key distinct in a plain unique index, so the
-- owner is folded to '': kids are unique per authority and among service keys.
CREATE UNIQUE INDEX signing_keys_kid_key ON signing_keys (IFNULL(authority_id, ''), kid);

-- At most one active key per owner and purpose; rotation relies on this as a last line of defence.
CREATE UNIQUE INDEX signing_keys_one_active_key
    ON signing_keys (IFNULL(authority_id, ''), purpose)
    WHERE state = 'active';

CREATE INDEX signing_keys_authority_idx ON signing_keys (authority_id, created_at);

CREATE TABLE api_clients (
    id           TEXT NOT NULL PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    client_id    TEXT NOT NULL,
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    CONSTRAINT api_clients_client_id_key UNIQUE (client_id)
) STRICT;

CREATE INDEX api_clients_tenant_idx ON api_clients (tenant_id, created_at);

CREATE TABLE api_keys (
    id          TEXT NOT NULL PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    key_prefix  TEXT NOT NULL,
    key_hash    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash)
) STRICT;

CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id, created_at);
