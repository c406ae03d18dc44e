-- Credential flows: contracts, issuance/presentation requests, the replay guard, the callbacks
-- outbox, status lists and issued credentials.
-- Append-only: never edit this file once merged; see migrations/README.md.
-- Encodings as in the initial schema; booleans are INTEGER 0 or 1.

-- A credential definition of one authority. The JSON is validated by the service.
CREATE TABLE contracts (
    id            TEXT    NOT NULL PRIMARY KEY,
    tenant_id     TEXT    NOT NULL REFERENCES tenants (id),
    authority_id  TEXT    NOT NULL REFERENCES authorities (id),
    name          TEXT    NOT NULL,
    definition    TEXT    NOT NULL,
    enabled       INTEGER NOT NULL,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    CONSTRAINT contracts_authority_name_key UNIQUE (authority_id, name),
    CONSTRAINT contracts_enabled_check CHECK (enabled IN (0, 1))
) STRICT;

CREATE INDEX contracts_tenant_idx ON contracts (tenant_id, created_at);

-- Issuance and presentation requests. status/result hold the latest requestStatus and the body
-- pollers get; retrieved_at is set once (the first wallet fetch wins).
CREATE TABLE flow_requests (
    id            TEXT    NOT NULL PRIMARY KEY,
    tenant_id     TEXT    NOT NULL REFERENCES tenants (id),
    kind          TEXT    NOT NULL,
    authority_id  TEXT    NOT NULL REFERENCES authorities (id),
    contract_id   TEXT    NULL REFERENCES contracts (id),
    nonce         TEXT    NOT NULL,
    payload       TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    result        TEXT    NULL,
    pin_failures  INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT    NOT NULL,
    expires_at    TEXT    NOT NULL,
    retrieved_at  TEXT    NULL,
    completed_at  TEXT    NULL,
    CONSTRAINT flow_requests_nonce_key UNIQUE (nonce),
    CONSTRAINT flow_requests_kind_check CHECK (kind IN ('issuance', 'presentation')),
    CONSTRAINT flow_requests_pin_failures_check CHECK (pin_failures >= 0)
) STRICT;

-- For purging expired requests.
CREATE INDEX flow_requests_expires_idx ON flow_requests (expires_at);

-- Replay guard: a (scope, value) pair is accepted once while its row lives.
CREATE TABLE used_once (
    scope       TEXT NOT NULL,
    value       TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    PRIMARY KEY (scope, value)
) STRICT;

CREATE INDEX used_once_expires_idx ON used_once (expires_at);

-- Callbacks outbox. A pending row is claimed by setting locked_until (a lease); delivered and
-- failed are final. headers may hold RP secrets.
CREATE TABLE callbacks (
    id               TEXT    NOT NULL PRIMARY KEY,
    request_id       TEXT    NOT NULL REFERENCES flow_requests (id) ON DELETE CASCADE,
    request_status   TEXT    NOT NULL,
    url              TEXT    NOT NULL,
    headers          TEXT    NOT NULL,
    body             TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT    NOT NULL,
    give_up_at       TEXT    NOT NULL,
    locked_until     TEXT    NULL,
    last_error       TEXT    NULL,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL,
    delivered_at     TEXT    NULL,
    CONSTRAINT callbacks_request_status_key UNIQUE (request_id, request_status),
    CONSTRAINT callbacks_state_check CHECK (state IN ('pending', 'delivered', 'failed'))
) STRICT;

CREATE INDEX callbacks_due_idx ON callbacks (state, next_attempt_at);

-- Status lists. bits is the published bitstring (bit i = byte i/8, mask 0x80 >> i%8);
-- allocation marks the indices handed out, so none is reused. At most one open list per
-- authority and purpose receives new allocations.
CREATE TABLE status_lists (
    id               TEXT    NOT NULL PRIMARY KEY,
    authority_id     TEXT    NOT NULL REFERENCES authorities (id),
    purpose          TEXT    NOT NULL,
    length           INTEGER NOT NULL,
    bits             BLOB    NOT NULL,
    allocation       BLOB    NOT NULL,
    allocated_count  INTEGER NOT NULL DEFAULT 0,
    is_open          INTEGER NOT NULL,
    version          INTEGER NOT NULL,
    signed_jwt       TEXT    NULL,
    signed_version   INTEGER NULL,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL,
    CONSTRAINT status_lists_length_check CHECK (length > 0 AND length % 8 = 0),
    CONSTRAINT status_lists_size_check
        CHECK (length(bits) * 8 = length AND length(allocation) * 8 = length),
    CONSTRAINT status_lists_allocated_check CHECK (allocated_count BETWEEN 0 AND length),
    CONSTRAINT status_lists_is_open_check CHECK (is_open IN (0, 1))
) STRICT;

CREATE INDEX status_lists_authority_idx ON status_lists (authority_id, purpose, is_open);

CREATE UNIQUE INDEX status_lists_one_open ON status_lists (authority_id, purpose) WHERE is_open;

-- Issued credentials. request_id is kept without a reference: requests are purged, the record
-- of an issued credential is not.
CREATE TABLE issued_credentials (
    id                  TEXT    NOT NULL PRIMARY KEY,
    jti                 TEXT    NOT NULL,
    tenant_id           TEXT    NOT NULL REFERENCES tenants (id),
    contract_id         TEXT    NOT NULL REFERENCES contracts (id),
    authority_id        TEXT    NOT NULL REFERENCES authorities (id),
    request_id          TEXT    NULL,
    subject_did         TEXT    NOT NULL,
    status_list_id      TEXT    NULL REFERENCES status_lists (id),
    status_index        INTEGER NULL,
    indexed_claim_hash  TEXT    NULL,
    issued_at           TEXT    NOT NULL,
    expires_at          TEXT    NOT NULL,
    revoked_at          TEXT    NULL,
    revocation_reason   TEXT    NULL,
    CONSTRAINT issued_credentials_jti_key UNIQUE (jti),
    CONSTRAINT issued_credentials_status_key UNIQUE (status_list_id, status_index),
    CONSTRAINT issued_credentials_status_check
        CHECK ((status_list_id IS NULL) = (status_index IS NULL) AND status_index >= 0)
) STRICT;

CREATE INDEX issued_credentials_claim_idx
    ON issued_credentials (contract_id, indexed_claim_hash);

CREATE INDEX issued_credentials_subject_idx ON issued_credentials (subject_did);
