-- What GET /healthz writes to learn that the database takes writes (Store::check_writable): one
-- row with some padding, added and the older ones deleted in one short transaction. Keep in
-- step with ../postgres/0004_health_probe.sql.

CREATE TABLE health_probe (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    pad TEXT NOT NULL
);
