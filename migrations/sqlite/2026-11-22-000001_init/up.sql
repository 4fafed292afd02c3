CREATE TABLE users (
    id            text PRIMARY KEY,
    email         text NOT NULL,
    username      text,
    first_name    text,
    last_name     text,
    phone_number  text,
    date_of_birth text,
    role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'sub_admin', 'admin')),
    is_active     integer NOT NULL DEFAULT 1,
    created_at    text NOT NULL,
    updated_at    text NOT NULL,
    last_login_at text
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_phone_number_key ON users (phone_number);
CREATE INDEX users_created_at_idx ON users (created_at);
CREATE INDEX users_active_admins_idx ON users (role) WHERE is_active = 1;

CREATE TABLE credentials (
    id            text PRIMARY KEY,
    user_id       text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_hash text NOT NULL,
    is_current    integer NOT NULL,
    created_at    text NOT NULL
);
CREATE UNIQUE INDEX credentials_one_current_idx ON credentials (user_id) WHERE is_current = 1;
CREATE INDEX credentials_user_idx ON credentials (user_id, created_at);

CREATE TABLE sessions (
    id                text PRIMARY KEY,
    user_id           text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at        text NOT NULL,
    last_refreshed_at text,
    expires_at        text NOT NULL,
    revoked_at        text,
    user_agent        text,
    ip                text,
    refresh_jti       text NOT NULL,
    refresh_iat       text NOT NULL,
    refresh_exp       text NOT NULL,
    previous_jti      text,
    rotated_at        text
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE signing_keys (
    kid         text PRIMARY KEY,
    alg         text NOT NULL,
    private_pem text NOT NULL,
    created_at  text NOT NULL,
    retired_at  text
);

CREATE TABLE audit_events (
    id         text PRIMARY KEY,
    at         text NOT NULL,
    type       text NOT NULL,
    actor_id   text,
    subject_id text,
    ip         text,
    user_agent text,
    detail     text NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at_idx ON audit_events (at DESC, id DESC);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id);
CREATE INDEX audit_events_subject_idx ON audit_events (subject_id);
