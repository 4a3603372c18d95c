-- Import jobs (批量导入): one row per uploaded file, its progress and summary.
CREATE TABLE import_jobs (
    id            text PRIMARY KEY,
    created_by    text NOT NULL,
    created_role  text NOT NULL DEFAULT '',
    team_id       text NOT NULL DEFAULT '',
    -- the importer's reach when uploading: own, team or all (ownership rules of the rows)
    scope         text NOT NULL CHECK (scope IN ('own', 'team', 'all')),
    file_name     text NOT NULL,
    file_size     bigint NOT NULL DEFAULT 0,
    file_sha256   bytea,
    -- csv or xlsx, as given or detected; encoding of a CSV file
    format        text NOT NULL DEFAULT '',
    encoding      text NOT NULL DEFAULT '',
    mode          text NOT NULL CHECK (mode IN ('dry_run', 'all_or_nothing', 'valid_only')),
    -- explicit column mapping, default owner and team, sheet
    options       jsonb NOT NULL DEFAULT '{}',
    -- uploading is internal: the file is still arriving (never shown, cleaned up if abandoned)
    status        text NOT NULL CHECK (status IN ('uploading', 'queued', 'running', 'done', 'failed', 'undone')),
    attempts      int NOT NULL DEFAULT 0,
    total_rows    int NOT NULL DEFAULT 0,
    done_rows     int NOT NULL DEFAULT 0,
    created_count int NOT NULL DEFAULT 0,
    skipped_count int NOT NULL DEFAULT 0,
    failed_count  int NOT NULL DEFAULT 0,
    issue_count   int NOT NULL DEFAULT 0,
    undone_count  int NOT NULL DEFAULT 0,
    -- the file's failure as a whole, with its message in both languages
    error_reason  text NOT NULL DEFAULT '',
    error_zh      text NOT NULL DEFAULT '',
    error_en      text NOT NULL DEFAULT '',
    -- how the columns were understood: [[header, field], …] and the ignored headers
    columns       jsonb NOT NULL DEFAULT '[]',
    ignored       jsonb NOT NULL DEFAULT '[]',
    created_at    timestamptz NOT NULL,
    started_at    timestamptz,
    heartbeat_at  timestamptz,
    finished_at   timestamptz,
    undone_at     timestamptz,
    undone_by     text NOT NULL DEFAULT ''
);

-- The workers' queue, and job lists per importer / team / everyone, newest first.
CREATE INDEX import_jobs_queue ON import_jobs (created_at, id) WHERE status = 'queued';
CREATE INDEX import_jobs_created ON import_jobs (created_at DESC, id DESC);
CREATE INDEX import_jobs_creator ON import_jobs (created_by, created_at DESC, id DESC);
CREATE INDEX import_jobs_team ON import_jobs (team_id, created_at DESC, id DESC);

-- The uploaded file, in pieces of about 1 MiB, until its job has run.
CREATE TABLE import_chunks (
    job_id text NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
    seq    int NOT NULL,
    data   bytea NOT NULL,
    PRIMARY KEY (job_id, seq)
);

-- The customers each job created, by row: what an undo removes, exactly.
CREATE TABLE import_rows (
    job_id      text NOT NULL REFERENCES import_jobs (id),
    row_number  int NOT NULL,
    customer_id text NOT NULL,
    PRIMARY KEY (job_id, row_number)
);
CREATE INDEX import_rows_customer ON import_rows (customer_id);

-- The per-row report: errors and skipped duplicates, in file order (n).
CREATE TABLE import_issues (
    job_id      text NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
    n           int NOT NULL,
    row_number  int NOT NULL,
    column_name text NOT NULL DEFAULT '',
    field       text NOT NULL DEFAULT '',
    reason      text NOT NULL,
    kind        text NOT NULL,
    message_zh  text NOT NULL,
    message_en  text NOT NULL,
    PRIMARY KEY (job_id, n)
);
