-- When an edit last changed what an incremental run of the configuration
-- reads, so that a job assigned before the change does not store its
-- position for the new source. 0 means never.
ALTER TABLE transfer_configs ADD COLUMN source_changed_at BIGINT NOT NULL DEFAULT 0;
