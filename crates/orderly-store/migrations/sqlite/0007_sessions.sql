-- Staff sessions of the browser faces (the studio, the console): one row per login, found by the
-- SHA-256 of the cookie's secret (the secret itself is never stored), with the form token its
-- pages carry (CSRF) and when it ends. Keep in step with ../postgres/0007_sessions.sql.

CREATE TABLE sessions (
    id_sha256 TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);
