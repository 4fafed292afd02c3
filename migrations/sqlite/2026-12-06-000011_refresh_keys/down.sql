DROP TABLE refresh_keys;
