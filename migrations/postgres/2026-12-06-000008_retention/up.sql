-- The retention job: when each job last ran (claimed by one instance with a conditional
-- UPDATE, so instances sharing the database run it once per interval between them), and
-- the indexes its batched deletes read.
CREATE TABLE job_runs (
    name   text PRIMARY KEY,
    ran_at timestamptz NOT NULL,
    holder text
);
INSERT INTO job_runs (name, ran_at) VALUES ('retention', '1970-01-01T00:00:00Z') ON CONFLICT DO NOTHING;
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
CREATE INDEX sessions_revoked_at_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX password_reset_tokens_expires_at_idx ON password_reset_tokens (expires_at);
