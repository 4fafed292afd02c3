-- casefold() is registered by doorman on every SQLite connection (Rust to_lowercase, so
-- it folds all of Unicode, unlike SQLite's ASCII-only lower()). Nothing to create here;
-- the migration exists so both backends keep the same migration names.
SELECT 1;
