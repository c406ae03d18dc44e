-- Credential flows: contracts, issuance/presentation requests, the replay guard, the callbacks
-- outbox, status lists and issued credentials.
-- Append-only: never edit this file once merged; see migrations/README.md.

-- A credential definition of one authority. The JSON is validated by the service.
CREATE TABLE contracts (
    id            uuid        NOT NULL,
    tenant_id     uuid        NOT NULL,
    authority_id  uuid        NOT NULL,
    name          text        NOT NULL,
    definition    jsonb       NOT NULL,
    enabled       boolean     NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    CONSTRAINT contracts_pkey PRIMARY KEY (id),
    CONSTRAINT contracts_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT contracts_authority_fkey FOREIGN KEY (authority_id) REFERENCES authorities (id),
    CONSTRAINT contracts_authority_name_key UNIQUE (authority_id, name)
);

CREATE INDEX contracts_tenant_idx ON contracts (tenant_id, created_at);

-- Issuance and presentation requests. status/result hold the latest requestStatus and the body
-- pollers get; retrieved_at is set once (the first wallet fetch wins).
CREATE TABLE flow_requests (
    id            uuid        NOT NULL,
    tenant_id     uuid        NOT NULL,
    kind          text        NOT NULL,
    authority_id  uuid        NOT NULL,
    contract_id   uuid        NULL,
    nonce         text        NOT NULL,
    payload       jsonb       NOT NULL,
    status        text        NOT NULL,
    result        jsonb       NULL,
    pin_failures  integer     NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    retrieved_at  timestamptz NULL,
    completed_at  timestamptz NULL,
    CONSTRAINT flow_requests_pkey PRIMARY KEY (id),
    CONSTRAINT flow_requests_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT flow_requests_authority_fkey FOREIGN KEY (authority_id) REFERENCES authorities (id),
    CONSTRAINT flow_requests_contract_fkey FOREIGN KEY (contract_id) REFERENCES contracts (id),
    CONSTRAINT flow_requests_nonce_key UNIQUE (nonce),
    CONSTRAINT flow_requests_kind_check CHECK (kind IN ('issuance', 'presentation')),
    CONSTRAINT flow_requests_pin_failures_check CHECK (pin_failures >= 0)
);

-- For purging expired requests.
CREATE INDEX flow_requests_expires_idx ON flow_requests (expires_at);

-- Replay guard: a (scope, value) pair is accepted once while its row lives.
CREATE TABLE used_once (
    scope       text        NOT NULL,
    value       text        NOT NULL,
    expires_at  timestamptz NOT NULL,
    CONSTRAINT used_once_pkey PRIMARY KEY (scope, value)
);

CREATE INDEX used_once_expires_idx ON used_once (expires_at);

-- Callbacks outbox. A pending row is claimed by setting locked_until (a lease); delivered and
-- failed are final. headers may hold RP secrets.
CREATE TABLE callbacks (
    id               uuid        NOT NULL,
    request_id       uuid        NOT NULL,
    request_status   text        NOT NULL,
    url              text        NOT NULL,
    headers          jsonb       NOT NULL,
    body             jsonb       NOT NULL,
    state            text        NOT NULL,
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    give_up_at       timestamptz NOT NULL,
    locked_until     timestamptz NULL,
    last_error       text        NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    delivered_at     timestamptz NULL,
    CONSTRAINT callbacks_pkey PRIMARY KEY (id),
    CONSTRAINT callbacks_request_fkey FOREIGN KEY (request_id) REFERENCES flow_requests (id)
        ON DELETE CASCADE,
    CONSTRAINT callbacks_request_status_key UNIQUE (request_id, request_status),
    CONSTRAINT callbacks_state_check CHECK (state IN ('pending', 'delivered', 'failed'))
);

CREATE INDEX callbacks_due_idx ON callbacks (state, next_attempt_at);

-- Status lists. bits is the published bitstring (bit i = byte i/8, mask 0x80 >> i%8);
-- allocation marks the indices handed out, so none is reused. At most one open list per
-- authority and purpose receives new allocations.
CREATE TABLE status_lists (
    id               uuid        NOT NULL,
    authority_id     uuid        NOT NULL,
    purpose          text        NOT NULL,
    length           integer     NOT NULL,
    bits             bytea       NOT NULL,
    allocation       bytea       NOT NULL,
    allocated_count  integer     NOT NULL DEFAULT 0,
    is_open          boolean     NOT NULL,
    version          bigint      NOT NULL,
    signed_jwt       text        NULL,
    signed_version   bigint      NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CONSTRAINT status_lists_pkey PRIMARY KEY (id),
    CONSTRAINT status_lists_authority_fkey FOREIGN KEY (authority_id) REFERENCES authorities (id),
    CONSTRAINT status_lists_length_check CHECK (length > 0 AND length % 8 = 0),
    CONSTRAINT status_lists_size_check
        CHECK (octet_length(bits) * 8 = length AND octet_length(allocation) * 8 = length),
    CONSTRAINT status_lists_allocated_check CHECK (allocated_count BETWEEN 0 AND length)
);

CREATE INDEX status_lists_authority_idx ON status_lists (authority_id, purpose, is_open);

CREATE UNIQUE INDEX status_lists_one_open ON status_lists (authority_id, purpose) WHERE is_open;

-- Issued credentials. request_id is kept without a reference: requests are purged, the record
-- of an issued credential is not.
CREATE TABLE issued_credentials (
    id                  uuid        NOT NULL,
    jti                 text        NOT NULL,
    tenant_id           uuid        NOT NULL,
    contract_id         uuid        NOT NULL,
    authority_id        uuid        NOT NULL,
    request_id          uuid        NULL,
    subject_did         text        NOT NULL,
    status_list_id      uuid        NULL,
    status_index        integer     NULL,
    indexed_claim_hash  text        NULL,
    issued_at           timestamptz NOT NULL,
    expires_at          timestamptz NOT NULL,
    revoked_at          timestamptz NULL,
    revocation_reason   text        NULL,
    CONSTRAINT issued_credentials_pkey PRIMARY KEY (id),
    CONSTRAINT issued_credentials_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT issued_credentials_contract_fkey FOREIGN KEY (contract_id) REFERENCES contracts (id),
    CONSTRAINT issued_credentials_authority_fkey
        FOREIGN KEY (authority_id) REFERENCES authorities (id),
    CONSTRAINT issued_credentials_status_list_fkey
        FOREIGN KEY (status_list_id) REFERENCES status_lists (id),
    CONSTRAINT issued_credentials_jti_key UNIQUE (jti),
    CONSTRAINT issued_credentials_status_key UNIQUE (status_list_id, status_index),
    CONSTRAINT issued_credentials_status_check
        CHECK ((status_list_id IS NULL) = (status_index IS NULL) AND status_index >= 0)
);

CREATE INDEX issued_credentials_claim_idx
    ON issued_credentials (contract_id, indexed_claim_hash);

CREATE INDEX issued_credentials_subject_idx ON issued_credentials (subject_did);
