-- Every import worker asks every two seconds whether a job is running (ClaimImportJob: imports run
-- one at a time) and which running jobs have lost their heartbeat. Both read only the running jobs,
-- at most one, of a table that keeps every import ever made: without this index, two scans of it.
CREATE INDEX import_jobs_running ON import_jobs (heartbeat_at) WHERE status = 'running';
