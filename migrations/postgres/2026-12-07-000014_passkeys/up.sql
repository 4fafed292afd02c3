-- Passkeys (WebAuthn credentials). `credential` is webauthn-rs's `Passkey` as JSON (public
-- key, counter, backup flags); `sign_count` repeats its counter so that a use can be
-- recorded only when the counter went forward, in one statement.
CREATE TABLE passkeys (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id text NOT NULL,
    name          text NOT NULL,
    credential    text NOT NULL,
    sign_count    bigint NOT NULL,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz
);
CREATE UNIQUE INDEX passkeys_credential_id_key ON passkeys (credential_id);
CREATE INDEX passkeys_user_idx ON passkeys (user_id, created_at);

-- A ceremony begun and not yet finished: the webauthn-rs state as JSON, used once (taken
-- with DELETE … RETURNING), for 5 minutes. Any instance can finish what another began.
CREATE TABLE webauthn_challenges (
    id         uuid PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('register', 'authenticate')),
    user_id    uuid REFERENCES users (id) ON DELETE CASCADE,
    state      text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX webauthn_challenges_expires_idx ON webauthn_challenges (expires_at);
