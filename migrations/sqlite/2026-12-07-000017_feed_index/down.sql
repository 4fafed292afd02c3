DROP INDEX sessions_revoked_at_idx;
CREATE INDEX sessions_revoked_at_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
DROP INDEX deleted_sessions_revoked_at_idx;
CREATE INDEX deleted_sessions_revoked_at_idx ON deleted_sessions (revoked_at);
