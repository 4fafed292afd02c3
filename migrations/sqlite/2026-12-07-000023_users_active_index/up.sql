-- Staff lists filtered by `is_active` at a million users (issue 21): see the PostgreSQL
-- migration of the same name. SQLite's partial index on active admins serves no bound
-- `is_active` (migration 000021 says why); this one serves either value.
CREATE INDEX users_active_created_at_idx ON users (is_active, created_at, id);
