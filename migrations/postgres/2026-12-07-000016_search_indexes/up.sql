-- Staff search and lists at a million users (issue 21; bench/million.sh, docs/SCALING.md).
-- `q` is a case-insensitive substring of email, username, first or last name: trigram GIN
-- indexes on the same lower() expressions the query filters on turn the four LIKE '%q%'
-- into a bitmap OR of index scans (for q of three characters or more). pg_trgm is an
-- extension shipped with PostgreSQL's contrib and trusted since PostgreSQL 13 (a database
-- owner may create it); it adds no function of doorman's, and goes into a schema of its own
-- so that `public` holds doorman's tables only. CockroachDB (trigram indexes since 22.2)
-- and YugabyteDB (pg_trgm with ybgin) have their own forms: see SCALING.md.
-- fastupdate off: users are written rarely and searched often, and a GIN pending list that
-- only autovacuum flushes made each search scan it (1 ms -> 81 ms after 20,000 updates
-- with autovacuum off).
CREATE SCHEMA IF NOT EXISTS extensions;
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA extensions;
CREATE INDEX users_email_trgm_idx ON users USING gin (lower(email) extensions.gin_trgm_ops) WITH (fastupdate = off);
CREATE INDEX users_username_trgm_idx ON users USING gin (lower(username) extensions.gin_trgm_ops) WITH (fastupdate = off);
CREATE INDEX users_first_name_trgm_idx ON users USING gin (lower(first_name) extensions.gin_trgm_ops) WITH (fastupdate = off);
CREATE INDEX users_last_name_trgm_idx ON users USING gin (lower(last_name) extensions.gin_trgm_ops) WITH (fastupdate = off);
-- The list's default order is (created_at, id), newest first: one index in that order
-- replaces the one on created_at alone, which needed a sort of each group of equal times.
CREATE INDEX users_created_at_id_idx ON users (created_at, id);
DROP INDEX users_created_at_idx;
-- Audit events of one type, newest first: without it a rare type walks the whole trail.
CREATE INDEX audit_events_type_at_idx ON audit_events (type, at DESC, id DESC);
