-- The revocation feed pages by (revoked_at, id): with id in the index the page is read in
-- order and stops at its limit, instead of sorting each revoked_at group (bench/RESULTS.md, (j)).
DROP INDEX sessions_revoked_at_idx;
CREATE INDEX sessions_revoked_at_idx ON sessions (revoked_at, id) WHERE revoked_at IS NOT NULL;
DROP INDEX deleted_sessions_revoked_at_idx;
CREATE INDEX deleted_sessions_revoked_at_idx ON deleted_sessions (revoked_at, id);
