-- The hookrun schema. Everything hookrun owns lives here; people query it with plain SQL.
CREATE SCHEMA IF NOT EXISTS hookrun;
COMMENT ON SCHEMA hookrun IS 'hookrun: durable webhook receipt, jobs against the Versori API, audit trail';
