ALTER TABLE sessions DROP COLUMN amr;
DROP TABLE mfa_tokens;
DROP TABLE recovery_codes;
DROP TABLE totp_factors;
