-- Flow engine: refused presentation answers are counted and each is reported, so the outbox
-- keys a message by request, status and sequence number (0 for every status sent once).
-- Append-only: never edit this file once merged; see migrations/README.md.
--
-- Contract step taken together with its expand step: callbacks_request_status_key (request_id,
-- request_status) is replaced by (request_id, request_status, seq). No released version wrote
-- callbacks under the old key (0.1.0 is unreleased); a binary older than this migration must
-- not serve against this schema (docs/OPERATIONS.md, "Upgrades").

ALTER TABLE flow_requests ADD COLUMN refusals integer NOT NULL DEFAULT 0;
ALTER TABLE flow_requests
    ADD CONSTRAINT flow_requests_refusals_check CHECK (refusals >= 0);

ALTER TABLE callbacks ADD COLUMN seq integer NOT NULL DEFAULT 0;
ALTER TABLE callbacks DROP CONSTRAINT callbacks_request_status_key;
ALTER TABLE callbacks
    ADD CONSTRAINT callbacks_request_status_key UNIQUE (request_id, request_status, seq);
