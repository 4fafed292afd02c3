-- See the PostgreSQL twin.
CREATE TABLE passkeys (
    id            text PRIMARY KEY NOT NULL,
    user_id       text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id text NOT NULL,
    name          text NOT NULL,
    credential    text NOT NULL,
    sign_count    bigint NOT NULL,
    created_at    text NOT NULL,
    last_used_at  text
);
CREATE UNIQUE INDEX passkeys_credential_id_key ON passkeys (credential_id);
CREATE INDEX passkeys_user_idx ON passkeys (user_id, created_at);

CREATE TABLE webauthn_challenges (
    id         text PRIMARY KEY NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('register', 'authenticate')),
    user_id    text REFERENCES users (id) ON DELETE CASCADE,
    state      text NOT NULL,
    expires_at text NOT NULL
);
CREATE INDEX webauthn_challenges_expires_idx ON webauthn_challenges (expires_at);
