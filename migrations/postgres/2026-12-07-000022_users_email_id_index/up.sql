-- The staff list sorted by email at a deep offset (issue 21). The list takes the page's
-- ids first and then their rows; with the id in the email index those ids come from an
-- index-only scan, which skips rows without reading them. Without it every skipped row was
-- read from the table: p99 392 ms at offset 900,000 of a million users
-- (bench/RESULTS.md (i)). The unique index on email gains the id as an included column
-- (its name keeps "email": a violation is mapped to `email_taken` by that word).
CREATE UNIQUE INDEX users_email_id_key ON users (email) INCLUDE (id);
DROP INDEX users_email_key;
