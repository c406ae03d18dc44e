-- What the verifier checked for a presentation step (each check's name, outcome and detail):
-- for operators (the console), never sent to relying parties; purged with the request.
ALTER TABLE flow_requests ADD COLUMN diagnostics TEXT NULL;
