-- The user list's totals without counting the users; see the PostgreSQL migration of the
-- same name for the scheme (one writer at a time makes the shards moot here, kept for one
-- code).
CREATE TABLE user_counts (
    role      TEXT NOT NULL,
    is_active INTEGER NOT NULL,
    shard     INTEGER NOT NULL,
    users     INTEGER NOT NULL,
    PRIMARY KEY (role, is_active, shard)
);
INSERT INTO user_counts (role, is_active, shard, users)
SELECT role, is_active, 0, count(*) FROM users GROUP BY role, is_active;
INSERT OR IGNORE INTO job_runs (name, ran_at) VALUES ('user_recount', '1970-01-01T00:00:00.000000Z');
