DROP INDEX password_reset_tokens_expires_at_idx;
DROP INDEX sessions_revoked_at_idx;
DROP INDEX sessions_expires_at_idx;
DROP TABLE job_runs;
