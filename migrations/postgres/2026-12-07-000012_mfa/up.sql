-- Second factors (issue 24). One TOTP factor per account: `secret` is the confirmed one
-- (NULL until a first confirmation), `pending_secret` the one being enrolled (a newer
-- enrolment replaces it; confirming moves it to `secret`). `last_step` is the last time
-- step accepted, so a code is accepted at most once. Secrets are stored as sealed by
-- service::mfa (under DOORMAN_DATA_KEY once that is wired).
CREATE TABLE totp_factors (
    user_id        uuid PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret         text,
    pending_secret text,
    confirmed_at   timestamptz,
    last_step      bigint,
    updated_at     timestamptz NOT NULL
);

-- Recovery codes: only their SHA-256 is kept; each is used at most once. A new set
-- replaces the old one.
CREATE TABLE recovery_codes (
    code_hash  text PRIMARY KEY NOT NULL,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX recovery_codes_user_idx ON recovery_codes (user_id);

-- The second step of a sign-in: a token (only its SHA-256 kept) handed out for a right
-- password, single use, short-lived, void after 5 wrong codes.
CREATE TABLE mfa_tokens (
    token_hash text PRIMARY KEY NOT NULL,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    failures   integer NOT NULL DEFAULT 0
);
CREATE INDEX mfa_tokens_user_idx ON mfa_tokens (user_id);
CREATE INDEX mfa_tokens_expires_idx ON mfa_tokens (expires_at);

-- How the session was signed in (RFC 8176 values, space-separated), kept across refreshes.
ALTER TABLE sessions ADD COLUMN amr text NOT NULL DEFAULT 'pwd';
