-- The queries name a boolean column bare (`WHERE is_current`) instead of comparing it with
-- a bound `true`, so that PostgreSQL's generic plans can use its partial indexes. SQLite
-- uses a partial index only when the query's condition is the index's own, so the two
-- indexes say it the same way (as PostgreSQL's already do).
DROP INDEX users_active_admins_idx;
CREATE INDEX users_active_admins_idx ON users (role) WHERE is_active;
DROP INDEX credentials_one_current_idx;
CREATE UNIQUE INDEX credentials_one_current_idx ON credentials (user_id) WHERE is_current;
