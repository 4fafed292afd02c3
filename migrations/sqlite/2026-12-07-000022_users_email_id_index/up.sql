-- The id in PostgreSQL's email index, for the staff list's deep pages by email (see the
-- PostgreSQL migration of the same name). SQLite reads no row that an offset skips (it
-- seeks the table only for the columns a kept row needs): nothing to add on this side; the
-- migration exists so both backends keep the same migration names.
SELECT 1;
