-- Named locks as rows locked FOR UPDATE, instead of advisory locks, and no server-side
-- functions: both are missing from some PostgreSQL-compatible distributed engines.
-- doorman now calls the built-in lower() for case-insensitive search (docs/SCALING.md).
CREATE TABLE locks (name TEXT PRIMARY KEY);
INSERT INTO locks (name) VALUES ('key_generation'), ('admin_bootstrap') ON CONFLICT DO NOTHING;
DROP FUNCTION IF EXISTS casefold(text);
