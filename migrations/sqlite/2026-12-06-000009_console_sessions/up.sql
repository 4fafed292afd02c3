-- The web console's cookie sessions: the browser holds a random token; only its SHA-256
-- is kept, beside the ordinary session it opened (ended, listed and counted as any other).
CREATE TABLE console_sessions (
    token_hash text PRIMARY KEY,
    session_id text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE
);
CREATE INDEX console_sessions_session_idx ON console_sessions (session_id);
