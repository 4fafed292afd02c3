-- Staff search (`q`, a case-insensitive substring of email, username, first or last name)
-- without reading every user: FTS5's trigram tokenizer indexes every three characters of
-- the four columns, and a MATCH of a quoted phrase finds the rows that contain it, case
-- folded. At a million users the scan it replaces took seconds (bench/RESULTS.md (i)). A
-- search of fewer than three characters has no trigram and still scans. The table keeps
-- its own copy of the four columns, in step with `users` by the triggers below (SQLite's
-- own; PostgreSQL, whose migrations stay free of server-side functions, uses pg_trgm
-- indexes instead). Its rowid is the user's.
CREATE VIRTUAL TABLE users_search USING fts5(
    id UNINDEXED, email, username, first_name, last_name,
    tokenize = 'trigram'
);
INSERT INTO users_search (rowid, id, email, username, first_name, last_name)
SELECT rowid, id, email, username, first_name, last_name FROM users;
CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_search (rowid, id, email, username, first_name, last_name)
    VALUES (new.rowid, new.id, new.email, new.username, new.first_name, new.last_name);
END;
CREATE TRIGGER users_search_update AFTER UPDATE OF id, email, username, first_name, last_name ON users BEGIN
    DELETE FROM users_search WHERE rowid = old.rowid;
    INSERT INTO users_search (rowid, id, email, username, first_name, last_name)
    VALUES (new.rowid, new.id, new.email, new.username, new.first_name, new.last_name);
END;
CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN
    DELETE FROM users_search WHERE rowid = old.rowid;
END;
