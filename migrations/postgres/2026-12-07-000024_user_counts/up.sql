-- The user list's totals without counting the users (issue 21: counting a million took
-- 70 ms on PostgreSQL, and a page past the middle of the list is placed by its total).
-- Every user is one in its (role, is_active) row, in one of eight shards: the
-- transaction that inserts, deletes, deactivates or re-roles a user changes them (the
-- shards spread concurrent registrations over eight rows). A filter without `q` sums the
-- rows it selects. The retention job recounts every hour and adds any difference (users
-- that instances older than this migration wrote during an upgrade).
CREATE TABLE user_counts (
    role      text NOT NULL,
    is_active boolean NOT NULL,
    shard     smallint NOT NULL,
    users     bigint NOT NULL,
    PRIMARY KEY (role, is_active, shard)
);
INSERT INTO user_counts (role, is_active, shard, users)
SELECT role, is_active, 0, count(*) FROM users GROUP BY role, is_active;
INSERT INTO job_runs (name, ran_at) VALUES ('user_recount', '1970-01-01T00:00:00Z') ON CONFLICT DO NOTHING;
