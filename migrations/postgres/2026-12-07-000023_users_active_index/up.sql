-- Staff lists filtered by `is_active` at a million users (issue 21): without an index on
-- it, `is_active=false` counted its 20,000 matches by reading every user (p99 160 ms on
-- PostgreSQL, 194 ms on SQLite, bench/RESULTS.md (i)). In the list's order, so a filtered
-- page walks it too; the count of either value is an index-only count of its entries.
CREATE INDEX users_active_created_at_idx ON users (is_active, created_at, id);
