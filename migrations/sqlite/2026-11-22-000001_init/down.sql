DROP TABLE audit_events;
DROP TABLE signing_keys;
DROP TABLE sessions;
DROP TABLE credentials;
DROP TABLE users;
