-- Secrets of the service itself, sealed under the KEK like signing keys (kek_id names the KEK
-- that sealed `sealed`). `subkey-root` derives the pepper of stored client secrets and API keys
-- and the keys of OpenID4VCI codes, nonces and access tokens, so the KEK can be rotated (the
-- root is re-sealed) without invalidating them.
CREATE TABLE service_secrets (
    name        TEXT NOT NULL PRIMARY KEY,
    sealed      BLOB NOT NULL,
    kek_id      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;
