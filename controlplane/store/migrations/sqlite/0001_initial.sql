-- Times are Unix nanoseconds in BIGINT columns, 0 meaning unset, so both
-- dialects store and compare them the same way.
CREATE TABLE clusters (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE registration_tokens (
    id         TEXT PRIMARY KEY,
    cluster_id TEXT NOT NULL REFERENCES clusters (id),
    hint       TEXT NOT NULL,
    hash       BLOB NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX registration_tokens_cluster ON registration_tokens (cluster_id);

CREATE TABLE runners (
    id                  TEXT PRIMARY KEY,
    cluster_id          TEXT NOT NULL REFERENCES clusters (id),
    name                TEXT NOT NULL,
    version             TEXT NOT NULL DEFAULT '',
    max_concurrent_jobs INTEGER NOT NULL,
    no_send_preview     BOOLEAN NOT NULL DEFAULT FALSE,
    state               TEXT NOT NULL,
    wait_seconds        INTEGER NOT NULL DEFAULT 25,
    free_slots          INTEGER NOT NULL DEFAULT 0,
    running_jobs        INTEGER NOT NULL DEFAULT 0,
    last_heartbeat_at   BIGINT NOT NULL DEFAULT 0,
    created_at          BIGINT NOT NULL,
    UNIQUE (cluster_id, name)
);

CREATE TABLE connections (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    type            TEXT NOT NULL,
    host            TEXT NOT NULL DEFAULT '',
    port            INTEGER NOT NULL DEFAULT 0,
    database_name   TEXT NOT NULL DEFAULT '',
    username        TEXT NOT NULL DEFAULT '',
    password_sealed TEXT NOT NULL DEFAULT '',
    path            TEXT NOT NULL DEFAULT '',
    params          TEXT NOT NULL DEFAULT '{}',
    created_at      BIGINT NOT NULL
);

CREATE TABLE transfer_configs (
    id                        TEXT PRIMARY KEY,
    name                      TEXT NOT NULL UNIQUE,
    cluster_id                TEXT NOT NULL REFERENCES clusters (id),
    source_connection_id      TEXT NOT NULL REFERENCES connections (id),
    source_table              TEXT NOT NULL DEFAULT '',
    source_query              TEXT NOT NULL DEFAULT '',
    source_columns            TEXT NOT NULL DEFAULT '[]',
    source_where              TEXT NOT NULL DEFAULT '',
    destination_connection_id TEXT NOT NULL DEFAULT '',
    destination_table         TEXT NOT NULL DEFAULT '',
    destination_mode          TEXT NOT NULL DEFAULT '',
    merge_keys                TEXT NOT NULL DEFAULT '[]',
    incremental               BOOLEAN NOT NULL DEFAULT FALSE,
    incremental_columns       TEXT NOT NULL DEFAULT '[]',
    last_record               TEXT NOT NULL DEFAULT '',
    parallelism               INTEGER NOT NULL DEFAULT 0,
    preview_rows              INTEGER NOT NULL DEFAULT 0,
    created_at                BIGINT NOT NULL,
    updated_at                BIGINT NOT NULL
);

CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,
    config_id        TEXT NOT NULL REFERENCES transfer_configs (id),
    config_name      TEXT NOT NULL,
    cluster_id       TEXT NOT NULL REFERENCES clusters (id),
    type             TEXT NOT NULL,
    state            TEXT NOT NULL,
    reason           TEXT NOT NULL DEFAULT '',
    message          TEXT NOT NULL DEFAULT '',
    epoch            BIGINT NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    runner_id        TEXT NOT NULL DEFAULT '',
    lease_expires_at BIGINT NOT NULL DEFAULT 0,
    cancel_pending   BOOLEAN NOT NULL DEFAULT FALSE,
    missing_count    INTEGER NOT NULL DEFAULT 0,
    missing_since    BIGINT NOT NULL DEFAULT 0,
    operator_phase   TEXT NOT NULL DEFAULT '',
    operator_reason  TEXT NOT NULL DEFAULT '',
    operator_message TEXT NOT NULL DEFAULT '',
    operator_at      BIGINT NOT NULL DEFAULT 0,
    result           TEXT NOT NULL DEFAULT '',
    preview          TEXT NOT NULL DEFAULT '',
    rows_written     BIGINT NOT NULL DEFAULT 0,
    bytes_read       BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    assigned_at      BIGINT NOT NULL DEFAULT 0,
    started_at       BIGINT NOT NULL DEFAULT 0,
    finished_at      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX jobs_dispatch ON jobs (cluster_id, state, created_at);
CREATE INDEX jobs_runner ON jobs (runner_id, state);
CREATE INDEX jobs_created ON jobs (created_at);

CREATE TABLE job_tokens (
    hash       BLOB PRIMARY KEY,
    job_id     TEXT NOT NULL REFERENCES jobs (id),
    epoch      BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE job_logs (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id    TEXT NOT NULL REFERENCES jobs (id),
    epoch     BIGINT NOT NULL,
    seq       BIGINT NOT NULL,
    logged_at BIGINT NOT NULL,
    level     TEXT NOT NULL DEFAULT '',
    message   TEXT NOT NULL,
    UNIQUE (job_id, epoch, seq)
);
