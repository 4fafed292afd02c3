-- Sessions of deleted accounts, for the revocation feed: deleting a user removes its
-- sessions (ON DELETE CASCADE), but their access tokens stay valid elsewhere until they
-- expire. No foreign key: the user is gone. Retention removes rows as it does sessions.
-- (Numbered 000022, after issue 22, so that it cannot share a version with a migration
-- written on another branch at the same time.)
CREATE TABLE deleted_sessions (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL,
    revoked_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX deleted_sessions_revoked_at_idx ON deleted_sessions (revoked_at);
