-- A transfer configuration may have no cluster yet: its jobs cannot run
-- until one is set. SQLite cannot drop a NOT NULL constraint in place, so
-- the table is rebuilt. The migrator runs SQLite migrations with foreign
-- keys off and checks them before the commit, because dropping the old
-- table would otherwise fail on the jobs that reference it.
CREATE TABLE transfer_configs_new (
    id                        TEXT PRIMARY KEY,
    name                      TEXT NOT NULL UNIQUE,
    cluster_id                TEXT REFERENCES clusters (id),
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
INSERT INTO transfer_configs_new SELECT
    id, name, cluster_id, source_connection_id, source_table, source_query, source_columns, source_where,
    destination_connection_id, destination_table, destination_mode, merge_keys, incremental, incremental_columns,
    last_record, parallelism, preview_rows, created_at, updated_at
FROM transfer_configs;
DROP TABLE transfer_configs;
ALTER TABLE transfer_configs_new RENAME TO transfer_configs;

-- Progress samples of each job, for a rows-per-second chart. The id orders
-- a job's samples by arrival, which is also time order because a job's
-- samples are written one at a time.
CREATE TABLE job_progress (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id       TEXT NOT NULL REFERENCES jobs (id),
    epoch        BIGINT NOT NULL,
    sampled_at   BIGINT NOT NULL,
    rows_written BIGINT NOT NULL,
    bytes_read   BIGINT NOT NULL
);
CREATE INDEX job_progress_job ON job_progress (job_id, id);
