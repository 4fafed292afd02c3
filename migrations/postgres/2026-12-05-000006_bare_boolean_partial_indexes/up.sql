-- The SQLite twin of this migration rewrote two partial indexes to name their boolean
-- column bare (`WHERE is_current`), as the queries do. PostgreSQL's indexes were written
-- that way from the start (2026-11-22-000001_init), so there is nothing to change here; the
-- migration exists so that both backends carry the same list of migration names.
SELECT 1;
