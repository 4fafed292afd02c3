-- See the PostgreSQL twin.
CREATE TABLE known_devices (
    user_id       text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_hash   text NOT NULL,
    first_seen_at text NOT NULL,
    last_seen_at  text NOT NULL,
    PRIMARY KEY (user_id, device_hash)
);
CREATE INDEX known_devices_last_seen_idx ON known_devices (last_seen_at);
