-- Server-wide values keyed by name, such as the check value that proves
-- the encryption key matches the one the database was created with.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
