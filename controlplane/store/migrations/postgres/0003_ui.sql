-- A transfer configuration may have no cluster yet: its jobs cannot run
-- until one is set.
ALTER TABLE transfer_configs ALTER COLUMN cluster_id DROP NOT NULL;

-- Progress samples of each job, for a rows-per-second chart. The id orders
-- a job's samples by arrival, which is also time order because a job's
-- samples are written under its row lock.
CREATE TABLE job_progress (
    id           BIGSERIAL PRIMARY KEY,
    job_id       TEXT NOT NULL REFERENCES jobs (id),
    epoch        BIGINT NOT NULL,
    sampled_at   BIGINT NOT NULL,
    rows_written BIGINT NOT NULL,
    bytes_read   BIGINT NOT NULL
);
CREATE INDEX job_progress_job ON job_progress (job_id, id);
