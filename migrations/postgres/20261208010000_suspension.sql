-- Suspension: multi-purpose status lists (purpose 'revocation+suspension') keep a second
-- bitstring of the same length; a set bit there means the credential at that index is
-- suspended. NULL until the first suspension (all zero).
ALTER TABLE status_lists ADD COLUMN suspension_bits BYTEA NULL;
ALTER TABLE status_lists ADD CONSTRAINT status_lists_suspension_size_check
    CHECK (suspension_bits IS NULL OR length(suspension_bits) * 8 = length);

-- The suspensions in force: one row per suspended credential, written and removed in the
-- transaction that sets or clears its bit.
CREATE TABLE credential_suspensions (
    credential_id  UUID        NOT NULL,
    suspended_at   TIMESTAMPTZ NOT NULL,
    reason         TEXT        NOT NULL,
    CONSTRAINT credential_suspensions_pkey PRIMARY KEY (credential_id),
    CONSTRAINT credential_suspensions_credential_fkey
        FOREIGN KEY (credential_id) REFERENCES issued_credentials (id)
);
