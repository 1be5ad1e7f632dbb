-- Web UI sessions signed out before they expire. Every replica checks a
-- session cookie against this table, so a sign-out holds on all replicas
-- and across restarts. expires_at is the session's own end in Unix
-- seconds; the sweep deletes a row once that time has passed, because the
-- cookie is rejected then anyway.
CREATE TABLE web_sessions_revoked (
    id         TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_revoked_expires ON web_sessions_revoked (expires_at);
