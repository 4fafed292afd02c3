CREATE TABLE tasks (
    id          text PRIMARY KEY,
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title       text NOT NULL,
    description text,
    done        integer NOT NULL DEFAULT 0,
    created_at  text NOT NULL,
    updated_at  text NOT NULL
);
CREATE INDEX tasks_user_created_idx ON tasks (user_id, created_at DESC, id DESC);

CREATE TABLE password_reset_tokens (
    id         text PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash text NOT NULL,
    created_at text NOT NULL,
    expires_at text NOT NULL,
    used_at    text
);
CREATE UNIQUE INDEX password_reset_tokens_hash_key ON password_reset_tokens (token_hash);
CREATE INDEX password_reset_tokens_user_idx ON password_reset_tokens (user_id);
