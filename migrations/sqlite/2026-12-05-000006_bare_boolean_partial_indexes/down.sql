DROP INDEX users_active_admins_idx;
CREATE INDEX users_active_admins_idx ON users (role) WHERE is_active = 1;
DROP INDEX credentials_one_current_idx;
CREATE UNIQUE INDEX credentials_one_current_idx ON credentials (user_id) WHERE is_current = 1;
