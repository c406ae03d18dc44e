-- The console lists the most recent requests (newest first), optionally of one status.
CREATE INDEX flow_requests_created_idx ON flow_requests (created_at);
