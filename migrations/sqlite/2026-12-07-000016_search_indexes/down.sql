DROP INDEX audit_events_type_at_idx;
CREATE INDEX users_created_at_idx ON users (created_at);
DROP INDEX users_created_at_id_idx;
