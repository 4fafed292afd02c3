-- Consecutive failed logins and locks, per account ('user:' and its id) and per login name
-- that matches no account ('name:' and the SHA-256 of its kind and value), so that a name
-- that matches no account is locked like one that does and the lockout does not tell which
-- exist. A row goes with a successful login, or after a day without an attempt.
CREATE TABLE login_throttles (
    key             text PRIMARY KEY,
    failed_logins   integer NOT NULL,
    locked_until    timestamptz,
    last_attempt_at timestamptz NOT NULL
);
CREATE INDEX login_throttles_last_attempt_idx ON login_throttles (last_attempt_at);

-- The counts and locks of migration 3 come along.
INSERT INTO login_throttles (key, failed_logins, locked_until, last_attempt_at)
SELECT 'user:' || id::text, failed_logins, locked_until, now()
FROM users
WHERE failed_logins > 0 OR locked_until IS NOT NULL;

-- users.failed_logins and users.locked_until (migration 3) are no longer read or written.
-- They stay for now: instances of the previous release, still running during a rolling
-- upgrade, read them at login. A later release drops them.
