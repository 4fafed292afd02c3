-- The devices each account has signed in from, so that a sign-in from one not seen before
-- mails the account holder (a security notification). A device is a hash of the user
-- agent without its version numbers and of the client's network (IPv4 /24, IPv6 /48); see
-- `service::notify` and docs/ARCHITECTURE.md. Written in the sign-in's transaction.
CREATE TABLE known_devices (
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_hash   text NOT NULL,
    first_seen_at timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, device_hash)
);
CREATE INDEX known_devices_last_seen_idx ON known_devices (last_seen_at);
