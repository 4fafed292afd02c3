-- See the PostgreSQL twin.
CREATE TABLE totp_factors (
    user_id        text PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret         text,
    pending_secret text,
    confirmed_at   text,
    last_step      bigint,
    updated_at     text NOT NULL
);

CREATE TABLE recovery_codes (
    code_hash  text PRIMARY KEY NOT NULL,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at text NOT NULL,
    used_at    text
);
CREATE INDEX recovery_codes_user_idx ON recovery_codes (user_id);

CREATE TABLE mfa_tokens (
    token_hash text PRIMARY KEY NOT NULL,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at text NOT NULL,
    expires_at text NOT NULL,
    used_at    text,
    failures   integer NOT NULL DEFAULT 0
);
CREATE INDEX mfa_tokens_user_idx ON mfa_tokens (user_id);
CREATE INDEX mfa_tokens_expires_idx ON mfa_tokens (expires_at);

ALTER TABLE sessions ADD COLUMN amr text NOT NULL DEFAULT 'pwd';
