DROP FUNCTION casefold(text);
