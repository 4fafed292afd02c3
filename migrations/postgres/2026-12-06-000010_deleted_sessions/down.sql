DROP INDEX deleted_sessions_revoked_at_idx;
DROP TABLE deleted_sessions;
