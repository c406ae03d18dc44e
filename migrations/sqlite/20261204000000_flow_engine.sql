-- Flow engine: refused presentation answers are counted and each is reported, so the outbox
-- keys a message by request, status and sequence number (0 for every status sent once).
-- Append-only: never edit this file once merged; see migrations/README.md.
--
-- SQLite cannot change a table constraint in place: callbacks is rebuilt (create, copy, drop,
-- rename). Nothing references callbacks, so dropping it with foreign keys on is safe; its own
-- reference to flow_requests is recreated as it was.

ALTER TABLE flow_requests ADD COLUMN refusals INTEGER NOT NULL DEFAULT 0
    CONSTRAINT flow_requests_refusals_check CHECK (refusals >= 0);

CREATE TABLE callbacks_new (
    id               TEXT    NOT NULL PRIMARY KEY,
    request_id       TEXT    NOT NULL REFERENCES flow_requests (id) ON DELETE CASCADE,
    request_status   TEXT    NOT NULL,
    seq              INTEGER NOT NULL DEFAULT 0,
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
    CONSTRAINT callbacks_request_status_key UNIQUE (request_id, request_status, seq),
    CONSTRAINT callbacks_state_check CHECK (state IN ('pending', 'delivered', 'failed'))
) STRICT;

INSERT INTO callbacks_new (id, request_id, request_status, seq, url, headers, body, state,
    attempts, next_attempt_at, give_up_at, locked_until, last_error, created_at, updated_at,
    delivered_at)
SELECT id, request_id, request_status, 0, url, headers, body, state, attempts, next_attempt_at,
    give_up_at, locked_until, last_error, created_at, updated_at, delivered_at
FROM callbacks;

DROP TABLE callbacks;
ALTER TABLE callbacks_new RENAME TO callbacks;
CREATE INDEX callbacks_due_idx ON callbacks (state, next_attempt_at);
