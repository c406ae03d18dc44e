-- Initial schema: tenants, issuing authorities, their signing keys, and API credentials.
-- Append-only: never edit this file once merged; see migrations/README.md.

CREATE TABLE tenants (
    id          uuid        NOT NULL,
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL,
    CONSTRAINT tenants_pkey PRIMARY KEY (id),
    CONSTRAINT tenants_name_key UNIQUE (name)
);

CREATE TABLE authorities (
    id          uuid        NOT NULL,
    tenant_id   uuid        NOT NULL,
    name        text        NOT NULL,
    did         text        NOT NULL,
    created_at  timestamptz NOT NULL,
    CONSTRAINT authorities_pkey PRIMARY KEY (id),
    CONSTRAINT authorities_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT authorities_did_key UNIQUE (did)
);

CREATE INDEX authorities_tenant_idx ON authorities (tenant_id, created_at);

-- authority_id NULL marks a service key (e.g. the key that signs API access tokens).
-- private_key_enc is AEAD ciphertext produced outside the store; kek_id names the key that
-- encrypted it.
CREATE TABLE signing_keys (
    id                uuid        NOT NULL,
    authority_id      uuid        NULL,
    purpose           text        NOT NULL,
    kid               text        NOT NULL,
    alg               text        NOT NULL,
    state             text        NOT NULL,
    public_jwk        jsonb       NOT NULL,
    private_key_enc   bytea       NOT NULL,
    kek_id            text        NOT NULL,
    created_at        timestamptz NOT NULL,
    state_changed_at  timestamptz NOT NULL,
    CONSTRAINT signing_keys_pkey PRIMARY KEY (id),
    CONSTRAINT signing_keys_authority_fkey FOREIGN KEY (authority_id) REFERENCES authorities (id),
    CONSTRAINT signing_keys_purpose_check CHECK (purpose IN ('authority', 'access_token')),
    CONSTRAINT signing_keys_state_check CHECK (state IN ('active', 'retiring', 'revoked')),
    CONSTRAINT signing_keys_owner_check CHECK (purpose <> 'authority' OR authority_id IS NOT NULL)
);

-- A NULL authority_id would make every service key distinct in a plain unique index, so the
-- owner is folded to the nil UUID: kids are unique per authority and among service keys.
CREATE UNIQUE INDEX signing_keys_kid_key
    ON signing_keys (COALESCE(authority_id, '00000000-0000-0000-0000-000000000000'::uuid), kid);

-- At most one active key per owner and purpose; rotation relies on this as a last line of defence.
CREATE UNIQUE INDEX signing_keys_one_active_key
    ON signing_keys (COALESCE(authority_id, '00000000-0000-0000-0000-000000000000'::uuid), purpose)
    WHERE state = 'active';

CREATE INDEX signing_keys_authority_idx ON signing_keys (authority_id, created_at);

CREATE TABLE api_clients (
    id           uuid        NOT NULL,
    tenant_id    uuid        NOT NULL,
    client_id    text        NOT NULL,
    name         text        NOT NULL,
    secret_hash  text        NOT NULL,
    created_at   timestamptz NOT NULL,
    CONSTRAINT api_clients_pkey PRIMARY KEY (id),
    CONSTRAINT api_clients_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT api_clients_client_id_key UNIQUE (client_id)
);

CREATE INDEX api_clients_tenant_idx ON api_clients (tenant_id, created_at);

CREATE TABLE api_keys (
    id          uuid        NOT NULL,
    tenant_id   uuid        NOT NULL,
    name        text        NOT NULL,
    key_prefix  text        NOT NULL,
    key_hash    text        NOT NULL,
    created_at  timestamptz NOT NULL,
    CONSTRAINT api_keys_pkey PRIMARY KEY (id),
    CONSTRAINT api_keys_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash)
);

CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id, created_at);
