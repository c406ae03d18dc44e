-- The audit log: one row per admin action and revocation (who, what, when). Append-only;
-- `seq` orders the rows and pages them. Never holds secrets (no bodies, only ids).
CREATE TABLE audit_log (
    seq         bigserial   NOT NULL,
    at          timestamptz NOT NULL,
    actor       text        NOT NULL,
    action      text        NOT NULL,
    target      text        NOT NULL,
    outcome     text        NOT NULL,
    request_id  text        NULL,
    CONSTRAINT audit_log_pkey PRIMARY KEY (seq)
);

CREATE INDEX audit_log_at_idx ON audit_log (at);
