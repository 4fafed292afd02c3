-- The same table as on PostgreSQL, where its rows are locked FOR UPDATE to serialise work
-- across instances. SQLite's write transaction (BEGIN IMMEDIATE) already does that, so
-- nothing reads it here; it keeps the two schemas alike.
CREATE TABLE locks (name TEXT PRIMARY KEY NOT NULL);
INSERT OR IGNORE INTO locks (name) VALUES ('key_generation'), ('admin_bootstrap');
