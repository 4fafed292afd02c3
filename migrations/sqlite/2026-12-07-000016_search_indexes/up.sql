-- Staff lists at a million users (issue 21; bench/million.sh, docs/SCALING.md). SQLite has
-- no index for LIKE '%q%' but FTS5's trigram tokenizer, which needs triggers (or doorman
-- writing a second table) to stay in step with users; `q` stays a scan, measured. The
-- list's default order and audit events of one type get the same indexes as PostgreSQL.
CREATE INDEX users_created_at_id_idx ON users (created_at, id);
DROP INDEX users_created_at_idx;
CREATE INDEX audit_events_type_at_idx ON audit_events (type, at DESC, id DESC);
