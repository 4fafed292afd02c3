DROP INDEX audit_events_type_at_idx;
CREATE INDEX users_created_at_idx ON users (created_at);
DROP INDEX users_created_at_id_idx;
DROP INDEX users_last_name_trgm_idx;
DROP INDEX users_first_name_trgm_idx;
DROP INDEX users_username_trgm_idx;
DROP INDEX users_email_trgm_idx;
-- pg_trgm stays: another schema in the database may use it.
