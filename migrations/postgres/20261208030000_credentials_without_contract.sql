-- Credentials issued through the VC-API have no contract.
ALTER TABLE issued_credentials ALTER COLUMN contract_id DROP NOT NULL;
