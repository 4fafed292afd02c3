-- SQLite's trigram table for staff search (see the SQLite migration of the same name).
-- PostgreSQL has its trigram GIN indexes since migration 000016: nothing to create here;
-- the migration exists so both backends keep the same migration names.
SELECT 1;
