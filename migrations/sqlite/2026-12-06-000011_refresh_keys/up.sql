-- See the PostgreSQL twin.
CREATE TABLE refresh_keys (
    kid        text PRIMARY KEY NOT NULL,
    secret     text NOT NULL,
    created_at text NOT NULL,
    retired_at text
);
