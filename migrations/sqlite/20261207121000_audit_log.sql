-- The audit log: one row per admin action and revocation (who, what, when). Append-only;
-- `seq` orders the rows and pages them. Never holds secrets (no bodies, only ids).
CREATE TABLE audit_log (
    seq         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at          TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    request_id  TEXT    NULL
) STRICT;

CREATE INDEX audit_log_at_idx ON audit_log (at);
