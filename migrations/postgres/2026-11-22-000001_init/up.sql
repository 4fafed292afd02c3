CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL,
    username      text,
    first_name    text,
    last_name     text,
    phone_number  text,
    date_of_birth text,
    role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'sub_admin', 'admin')),
    is_active     boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    last_login_at timestamptz
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_phone_number_key ON users (phone_number);
CREATE INDEX users_created_at_idx ON users (created_at);
CREATE INDEX users_active_admins_idx ON users (role) WHERE is_active;

CREATE TABLE credentials (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_hash text NOT NULL,
    is_current    boolean NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE UNIQUE INDEX credentials_one_current_idx ON credentials (user_id) WHERE is_current;
CREATE INDEX credentials_user_idx ON credentials (user_id, created_at);

CREATE TABLE sessions (
    id                uuid PRIMARY KEY,
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at        timestamptz NOT NULL,
    last_refreshed_at timestamptz,
    expires_at        timestamptz NOT NULL,
    revoked_at        timestamptz,
    user_agent        text,
    ip                text,
    refresh_jti       uuid NOT NULL,
    refresh_iat       timestamptz NOT NULL,
    refresh_exp       timestamptz NOT NULL,
    previous_jti      uuid,
    rotated_at        timestamptz
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE signing_keys (
    kid         text PRIMARY KEY,
    alg         text NOT NULL,
    private_pem text NOT NULL,
    created_at  timestamptz NOT NULL,
    retired_at  timestamptz
);

CREATE TABLE audit_events (
    id         uuid PRIMARY KEY,
    at         timestamptz NOT NULL,
    type       text NOT NULL,
    actor_id   uuid,
    subject_id uuid,
    ip         text,
    user_agent text,
    detail     text NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at_idx ON audit_events (at DESC, id DESC);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id);
CREATE INDEX audit_events_subject_idx ON audit_events (subject_id);
