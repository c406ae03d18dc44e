-- Secrets of the service itself, sealed under the KEK like signing keys (kek_id names the KEK
-- that sealed `sealed`). `subkey-root` derives the pepper of stored client secrets and API keys
-- and the keys of OpenID4VCI codes, nonces and access tokens, so the KEK can be rotated (the
-- root is re-sealed) without invalidating them.
CREATE TABLE service_secrets (
    name        text        NOT NULL,
    sealed      bytea       NOT NULL,
    kek_id      text        NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT service_secrets_pkey PRIMARY KEY (name)
);
