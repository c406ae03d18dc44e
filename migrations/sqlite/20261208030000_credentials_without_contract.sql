-- Credentials issued through the VC-API have no contract: issued_credentials.contract_id
-- becomes nullable. SQLite cannot drop a NOT NULL constraint in place, so the table is
-- rebuilt (https://www.sqlite.org/lang_altertable.html, "other kinds of table schema
-- changes") inside the migration's transaction. Foreign keys stay on: the one table that
-- references issued_credentials (credential_suspensions) is emptied first and refilled last,
-- so dropping the old table leaves no dangling reference at any point.
CREATE TEMPORARY TABLE suspensions_during_rebuild AS SELECT * FROM credential_suspensions;
DELETE FROM credential_suspensions;

CREATE TABLE issued_credentials_rebuilt (
    id                  TEXT    NOT NULL PRIMARY KEY,
    jti                 TEXT    NOT NULL,
    tenant_id           TEXT    NOT NULL REFERENCES tenants (id),
    contract_id         TEXT    NULL REFERENCES contracts (id),
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

INSERT INTO issued_credentials_rebuilt (
    id, jti, tenant_id, contract_id, authority_id, request_id, subject_did, status_list_id,
    status_index, indexed_claim_hash, issued_at, expires_at, revoked_at, revocation_reason)
SELECT
    id, jti, tenant_id, contract_id, authority_id, request_id, subject_did, status_list_id,
    status_index, indexed_claim_hash, issued_at, expires_at, revoked_at, revocation_reason
FROM issued_credentials;

DROP TABLE issued_credentials;
ALTER TABLE issued_credentials_rebuilt RENAME TO issued_credentials;

CREATE INDEX issued_credentials_claim_idx
    ON issued_credentials (contract_id, indexed_claim_hash);
CREATE INDEX issued_credentials_subject_idx ON issued_credentials (subject_did);

INSERT INTO credential_suspensions SELECT * FROM suspensions_during_rebuild;
DROP TABLE suspensions_during_rebuild;
