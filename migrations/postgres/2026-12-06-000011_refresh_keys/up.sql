-- The HS256 secrets refresh tokens are signed with: never published, shared by every
-- instance, rotated by `doorman rotate-keys` (a retired one keeps verifying until the
-- refresh tokens it signed have expired). Refresh tokens signed with the published access
-- keys could be mistaken for access tokens by a service verifying against the JWKS.
CREATE TABLE refresh_keys (
    kid        text PRIMARY KEY NOT NULL,
    secret     text NOT NULL,
    created_at timestamptz NOT NULL,
    retired_at timestamptz
);
