-- See the PostgreSQL twin.
CREATE TABLE deleted_sessions (
    id         text PRIMARY KEY NOT NULL,
    user_id    text NOT NULL,
    revoked_at text NOT NULL,
    expires_at text NOT NULL
);
CREATE INDEX deleted_sessions_revoked_at_idx ON deleted_sessions (revoked_at);
