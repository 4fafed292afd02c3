-- An index on (role, created_at, id) for SQLite's staff lists (see the SQLite migration of
-- the same name). PostgreSQL's plans use its partial index on active users' roles
-- already: nothing to create here; the migration exists so both backends keep the same
-- migration names.
SELECT 1;
