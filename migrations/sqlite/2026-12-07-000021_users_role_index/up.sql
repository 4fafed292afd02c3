-- Staff lists filtered by role at a million users (issue 21). SQLite uses the partial
-- index on active admins only when a query's condition is the index's own, and the list
-- binds `is_active`: `role=sub_admin&is_active=true` read every user (p99 106 ms at a
-- million, bench/RESULTS.md (i)). This one serves any role filter in the list's default
-- order. PostgreSQL's plans already use its partial index there (p99 3.9 ms): nothing
-- to add on that side.
CREATE INDEX users_role_created_at_idx ON users (role, created_at, id);
