-- Suspension: multi-purpose status lists (purpose 'revocation+suspension') keep a second
-- bitstring of the same length; a set bit there means the credential at that index is
-- suspended. NULL until the first suspension (all zero).
ALTER TABLE status_lists ADD COLUMN suspension_bits BLOB NULL
    CHECK (suspension_bits IS NULL OR length(suspension_bits) * 8 = length);

-- The suspensions in force: one row per suspended credential, written and removed in the
-- transaction that sets or clears its bit.
CREATE TABLE credential_suspensions (
    credential_id  TEXT NOT NULL PRIMARY KEY REFERENCES issued_credentials (id),
    suspended_at   TEXT NOT NULL,
    reason         TEXT NOT NULL
) STRICT;
