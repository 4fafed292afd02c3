-- See the PostgreSQL twin. Timestamps are RFC 3339 text with microseconds, as doorman
-- writes them.
CREATE TABLE job_runs (
    name   TEXT PRIMARY KEY NOT NULL,
    ran_at TEXT NOT NULL,
    holder TEXT
);
INSERT OR IGNORE INTO job_runs (name, ran_at) VALUES ('retention', '1970-01-01T00:00:00.000000Z');
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
CREATE INDEX sessions_revoked_at_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX password_reset_tokens_expires_at_idx ON password_reset_tokens (expires_at);
