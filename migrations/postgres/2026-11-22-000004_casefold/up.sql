-- Case folding for staff search. PostgreSQL's lower() folds Unicode under the database's
-- LC_CTYPE; on SQLite doorman registers casefold() on every connection (Rust to_lowercase).
CREATE FUNCTION casefold(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT lower($1) $$;
