package store

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/ids"
	"github.com/crmsuite/crm/pkg/outbox"
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/validate"
	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
	"github.com/crmsuite/crm/services/customer/internal/customer"
	"github.com/crmsuite/crm/services/customer/internal/transfer"
)

// ImportMode says what an import writes.
type ImportMode string

// Import modes.
const (
	ModeDryRun       ImportMode = "dry_run"
	ModeAllOrNothing ImportMode = "all_or_nothing"
	ModeValidOnly    ImportMode = "valid_only"
)

// ImportStatus is where an import job is.
type ImportStatus string

// Job states. Uploading is internal: the file is still arriving.
const (
	StatusUploading ImportStatus = "uploading"
	StatusQueued    ImportStatus = "queued"
	StatusRunning   ImportStatus = "running"
	StatusDone      ImportStatus = "done"
	StatusFailed    ImportStatus = "failed"
	StatusUndone    ImportStatus = "undone"
)

// Errors of import jobs.
var (
	ErrImportJobNotFound = errors.New("import job not found")
	ErrFileTooLarge      = errors.New("import file too large")
)

// UndoError says why a job cannot be undone.
type UndoError struct{ Status ImportStatus }

func (e *UndoError) Error() string {
	return "import job cannot be undone in status " + string(e.Status)
}

// ImportOptions are what the uploader chose.
type ImportOptions struct {
	FileName string `json:"-"`
	// Format is what the uploader said; empty means detect.
	Format         transfer.Format   `json:"format,omitempty"`
	Mode           ImportMode        `json:"-"`
	Mapping        map[string]string `json:"mapping,omitempty"`
	DefaultOwnerID string            `json:"default_owner_id,omitempty"`
	DefaultTeamID  string            `json:"default_team_id,omitempty"`
	Sheet          string            `json:"sheet,omitempty"`
}

// ImportJob is one import of one file.
type ImportJob struct {
	ID string
	// The importer and its reach when uploading.
	CreatedBy, Role, TeamID string
	Scope                   transfer.Scope
	Options                 ImportOptions
	FileSize                int64
	FileSHA256              []byte
	Format                  transfer.Format
	Encoding                transfer.Encoding
	Status                  ImportStatus
	Attempts                int
	TotalRows, DoneRows     int
	Created, Skipped        int
	Failed, IssueCount      int
	UndoneCount             int
	ErrorReason             string
	ErrorMessage            validate.Message
	Columns                 [][2]string
	Ignored                 []string
	CreatedAt               time.Time
	StartedAt, FinishedAt   *time.Time
	UndoneAt                *time.Time
	UndoneBy                string
	// Issues holds the job's first issues when they were asked for.
	Issues []transfer.Issue
}

// Terminal reports whether the job has finished (or been undone).
func (j *ImportJob) Terminal() bool {
	return j.Status == StatusDone || j.Status == StatusFailed || j.Status == StatusUndone
}

// Importer returns who imports, for the ownership rules of the rows.
func (j *ImportJob) Importer() transfer.Importer {
	return transfer.Importer{UserID: j.CreatedBy, TeamID: j.TeamID, Scope: j.Scope,
		DefaultOwnerID: j.Options.DefaultOwnerID, DefaultTeamID: j.Options.DefaultTeamID}
}

func (j *ImportJob) actor() Actor { return Actor{UserID: j.CreatedBy, Role: j.Role, TeamID: j.TeamID} }

// Transfer runs imports and exports of customers on top of a Store.
type Transfer struct {
	*Store
	// ids hands out customer ids in big blocks: an import creates thousands at once.
	ids    *ids.Allocator
	jobIDs *ids.Allocator
	limits transfer.Limits
	// batch is how many rows are checked and written together.
	batch int
	// beforeInsert, when set (by tests), runs after a batch's duplicate check and before its
	// insert, where a concurrent create can slip in, with the file row of the batch's first new
	// customer: two batches are in flight at once, so the order of the calls says nothing.
	beforeInsert func(ctx context.Context, firstRow int)
}

// ImportBlockSize is how many customer serials an importing process reserves at a time.
const ImportBlockSize = 1000

// NewTransfer returns imports and exports over st.
func NewTransfer(st *Store) *Transfer {
	return &Transfer{
		Store: st,
		ids:   ids.NewAllocator(st.pool, "CUST", ids.CustomerFormat, ImportBlockSize),
		jobIDs: ids.NewAllocator(st.pool, "IMP", func(day time.Time, n int64) string {
			return fmt.Sprintf("IMP-%s-%04d", day.Format("20060102"), n)
		}, 10),
		limits: transfer.DefaultLimits(),
		batch:  5000,
	}
}

const jobColumns = `id, created_by, created_role, team_id, scope, file_name, file_size, file_sha256, format, encoding,
	mode, options, status, attempts, total_rows, done_rows, created_count, skipped_count, failed_count, issue_count,
	undone_count, error_reason, error_zh, error_en, columns, ignored, created_at, started_at, finished_at, undone_at, undone_by`

func scanJob(row pgx.Row) (*ImportJob, error) {
	var j ImportJob
	var scope, format, encoding, mode, status string
	var options, columns, ignored []byte
	err := row.Scan(&j.ID, &j.CreatedBy, &j.Role, &j.TeamID, &scope, &j.Options.FileName, &j.FileSize, &j.FileSHA256,
		&format, &encoding, &mode, &options, &status, &j.Attempts, &j.TotalRows, &j.DoneRows, &j.Created, &j.Skipped,
		&j.Failed, &j.IssueCount, &j.UndoneCount, &j.ErrorReason, &j.ErrorMessage.ZH, &j.ErrorMessage.EN, &columns, &ignored,
		&j.CreatedAt, &j.StartedAt, &j.FinishedAt, &j.UndoneAt, &j.UndoneBy)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrImportJobNotFound
		}
		return nil, err
	}
	j.Scope, j.Format, j.Encoding = transfer.Scope(scope), transfer.Format(format), transfer.Encoding(encoding)
	j.Options.Mode, j.Status = ImportMode(mode), ImportStatus(status)
	for _, d := range []struct {
		raw []byte
		dst any
	}{{options, &j.Options}, {columns, &j.Columns}, {ignored, &j.Ignored}} {
		if err := json.Unmarshal(d.raw, d.dst); err != nil {
			return nil, fmt.Errorf("decode import job %s: %w", j.ID, err)
		}
	}
	return &j, nil
}

// jobReach limits jobs to the caller's reach: its own, its team's or all.
func jobReach(r Reach, args *[]any) string {
	switch {
	case r.OwnerID != "":
		*args = append(*args, r.OwnerID)
		return fmt.Sprintf("created_by = $%d", len(*args))
	case r.TeamID != "":
		*args = append(*args, r.TeamID)
		return fmt.Sprintf("team_id = $%d", len(*args))
	}
	return "true"
}

// Upload receives the file of a new import job piece by piece.
type Upload struct {
	t    *Transfer
	job  *ImportJob
	max  int64
	seq  int
	size int64
	buf  []byte
	hash hash.Hash
	done bool
}

// uploadChunk is the size of the pieces a file is stored in.
const uploadChunk = 1 << 20

// BeginUpload creates a job in status uploading for the importer; its file follows through Write
// and Commit queues it. maxBytes bounds the file (ErrFileTooLarge).
func (t *Transfer) BeginUpload(ctx context.Context, actor Actor, scope transfer.Scope, opts ImportOptions, maxBytes int64) (*Upload, error) {
	id, err := t.jobIDs.Next(ctx)
	if err != nil {
		return nil, fmt.Errorf("allocate import job id: %w", err)
	}
	options, err := json.Marshal(opts)
	if err != nil {
		return nil, err
	}
	job := &ImportJob{ID: id, CreatedBy: actor.UserID, Role: actor.Role, TeamID: actor.TeamID, Scope: scope, Options: opts,
		Status: StatusUploading, CreatedAt: t.now()}
	if _, err := t.pool.Exec(ctx, `INSERT INTO import_jobs (id, created_by, created_role, team_id, scope, file_name, format, mode, options, status, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'uploading', $10)`,
		id, actor.UserID, actor.Role, actor.TeamID, string(scope), opts.FileName, string(opts.Format), string(opts.Mode), options, job.CreatedAt); err != nil {
		return nil, fmt.Errorf("create import job: %w", err)
	}
	return &Upload{t: t, job: job, max: maxBytes, hash: sha256.New(), buf: make([]byte, 0, uploadChunk)}, nil
}

// Write adds the next bytes of the file.
func (u *Upload) Write(ctx context.Context, p []byte) error {
	u.size += int64(len(p))
	if u.max > 0 && u.size > u.max {
		return ErrFileTooLarge
	}
	u.hash.Write(p)
	for len(p) > 0 {
		n := min(len(p), uploadChunk-len(u.buf))
		u.buf = append(u.buf, p[:n]...)
		p = p[n:]
		if len(u.buf) == uploadChunk {
			if err := u.flush(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

func (u *Upload) flush(ctx context.Context) error {
	if len(u.buf) == 0 {
		return nil
	}
	u.seq++
	if _, err := u.t.pool.Exec(ctx, `INSERT INTO import_chunks (job_id, seq, data) VALUES ($1, $2, $3)`, u.job.ID, u.seq, u.buf); err != nil {
		return fmt.Errorf("store import file: %w", err)
	}
	u.buf = u.buf[:0]
	return nil
}

// Size returns the bytes received so far.
func (u *Upload) Size() int64 { return u.size }

// Commit stores the rest of the file and queues the job.
func (u *Upload) Commit(ctx context.Context) (*ImportJob, error) {
	if err := u.flush(ctx); err != nil {
		return nil, err
	}
	sum := u.hash.Sum(nil)
	if _, err := u.t.pool.Exec(ctx, `UPDATE import_jobs SET status = 'queued', file_size = $2, file_sha256 = $3 WHERE id = $1`,
		u.job.ID, u.size, sum); err != nil {
		return nil, fmt.Errorf("queue import job: %w", err)
	}
	u.done = true
	u.job.Status, u.job.FileSize, u.job.FileSHA256 = StatusQueued, u.size, sum
	return u.job, nil
}

// Abort removes an upload that was not committed; after Commit it does nothing.
func (u *Upload) Abort() {
	if u.done {
		return
	}
	u.done = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = u.t.pool.Exec(ctx, `DELETE FROM import_jobs WHERE id = $1 AND status = 'uploading'`, u.job.ID)
}

// GetImportJob returns a job within reach with its first issues (at most withIssues).
func (t *Transfer) GetImportJob(ctx context.Context, id string, reach Reach, withIssues int) (*ImportJob, error) {
	args := []any{id}
	j, err := scanJob(t.pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM import_jobs WHERE id = $1 AND status <> 'uploading' AND `+jobReach(reach, &args), args...))
	if err != nil {
		return nil, err
	}
	if withIssues > 0 && j.IssueCount > 0 {
		if j.Issues, _, err = t.ListImportIssues(ctx, id, 0, withIssues); err != nil {
			return nil, err
		}
	}
	return j, nil
}

// ListImportJobs returns one page of the jobs within reach, newest first, and the next cursor.
func (t *Transfer) ListImportJobs(ctx context.Context, reach Reach, pageSize int, after *Cursor) ([]*ImportJob, *Cursor, error) {
	var args []any
	where := "status <> 'uploading' AND " + jobReach(reach, &args)
	if after != nil {
		at, err := time.Parse(time.RFC3339Nano, after.Value)
		if err != nil {
			return nil, nil, fmt.Errorf("cursor time: %w", err)
		}
		args = append(args, at, after.ID)
		where += fmt.Sprintf(" AND (created_at, id) < ($%d, $%d)", len(args)-1, len(args))
	}
	args = append(args, pageSize+1)
	rows, err := t.pool.Query(ctx, `SELECT `+jobColumns+` FROM import_jobs WHERE `+where+
		fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, nil, fmt.Errorf("list import jobs: %w", err)
	}
	defer rows.Close()
	var out []*ImportJob
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("list import jobs: %w", err)
	}
	if len(out) <= pageSize {
		return out, nil, nil
	}
	out = out[:pageSize]
	last := out[len(out)-1]
	return out, &Cursor{Value: last.CreatedAt.Format(time.RFC3339Nano), ID: last.ID}, nil
}

// ListImportIssues returns up to limit issues of a job after issue number after (0 for the
// first), in file order, and the number to continue after (0 at the end). The caller checks
// that the job is within reach.
func (t *Transfer) ListImportIssues(ctx context.Context, jobID string, after, limit int) ([]transfer.Issue, int, error) {
	rows, err := t.pool.Query(ctx, `SELECT n, row_number, column_name, field, reason, kind, message_zh, message_en
		FROM import_issues WHERE job_id = $1 AND n > $2 ORDER BY n LIMIT $3`, jobID, after, limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("list import issues: %w", err)
	}
	defer rows.Close()
	var out []transfer.Issue
	var ns []int
	for rows.Next() {
		var is transfer.Issue
		var n int
		var kind string
		if err := rows.Scan(&n, &is.Row, &is.Column, &is.Field, &is.Reason, &kind, &is.Message.ZH, &is.Message.EN); err != nil {
			return nil, 0, err
		}
		is.Kind = transfer.Kind(kind)
		out, ns = append(out, is), append(ns, n)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list import issues: %w", err)
	}
	if len(out) <= limit {
		return out, 0, nil
	}
	return out[:limit], ns[limit-1], nil
}

// EachImportIssue calls fn with every issue of a job in file order, a page at a time.
func (t *Transfer) EachImportIssue(ctx context.Context, jobID string, fn func(transfer.Issue) error) error {
	after := 0
	for {
		page, next, err := t.ListImportIssues(ctx, jobID, after, 5000)
		if err != nil {
			return err
		}
		for _, is := range page {
			if err := fn(is); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		after = next
	}
}

// staleAfter is how long a running job may go without a heartbeat before it counts as abandoned
// (its process died); maxAttempts is how often a job is started before it is given up.
const (
	staleAfter      = 2 * time.Minute
	heartbeatPeriod = 20 * time.Second
	maxAttempts     = 3
	// abandonedUpload is how old an upload that never finished may get before it is removed.
	abandonedUpload = time.Hour
)

// ClaimImportJob takes the oldest queued job for this process and marks it running; nil when the
// queue is empty or another job is running. Imports run one at a time, whichever replica runs
// them, so that two imports of the same file cannot both pass the duplicate check; within its
// job an import then checks and writes two batches at once (see writePipelined). Jobs whose
// process died are put back in the queue first (or failed after maxAttempts), and abandoned
// uploads are removed.
func (t *Transfer) ClaimImportJob(ctx context.Context) (*ImportJob, error) {
	now := t.now()
	if _, err := t.pool.Exec(ctx, `UPDATE import_jobs SET
			status = CASE WHEN attempts >= $2 THEN 'failed' ELSE 'queued' END,
			error_reason = CASE WHEN attempts >= $2 THEN 'INTERRUPTED' ELSE '' END,
			error_zh = CASE WHEN attempts >= $2 THEN '导入多次中断，已停止；可撤销已导入的部分后重新上传' ELSE '' END,
			error_en = CASE WHEN attempts >= $2 THEN 'the import was interrupted too often and stopped; undo what it imported and upload again' ELSE '' END,
			finished_at = CASE WHEN attempts >= $2 THEN $3::timestamptz END
		WHERE status = 'running' AND heartbeat_at < $1`, now.Add(-staleAfter), maxAttempts, now); err != nil {
		return nil, fmt.Errorf("requeue stale import jobs: %w", err)
	}
	if _, err := t.pool.Exec(ctx, `DELETE FROM import_jobs WHERE status = 'uploading' AND created_at < $1`, now.Add(-abandonedUpload)); err != nil {
		return nil, fmt.Errorf("remove abandoned uploads: %w", err)
	}
	var j *ImportJob
	err := pgdb.InTx(ctx, t.pool, func(tx pgx.Tx) error {
		// Claims take turns, so that the second sees the job the first set running.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('customer.import', 0))`); err != nil {
			return fmt.Errorf("lock import queue: %w", err)
		}
		var err error
		j, err = scanJob(tx.QueryRow(ctx, `UPDATE import_jobs SET status = 'running', started_at = $1, heartbeat_at = $1, attempts = attempts + 1
			WHERE id = (SELECT id FROM import_jobs WHERE status = 'queued' ORDER BY created_at, id LIMIT 1)
				AND NOT EXISTS (SELECT 1 FROM import_jobs WHERE status = 'running')
			RETURNING `+jobColumns, now))
		return err
	})
	if errors.Is(err, ErrImportJobNotFound) {
		return nil, nil
	}
	return j, err
}

// chunkReader reads a job's stored file as a stream, one piece per query.
type chunkReader struct {
	ctx context.Context
	t   *Transfer
	job string
	seq int
	buf []byte
	eof bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.eof {
			return 0, io.EOF
		}
		r.seq++
		err := r.t.pool.QueryRow(r.ctx, `SELECT data FROM import_chunks WHERE job_id = $1 AND seq = $2`, r.job, r.seq).Scan(&r.buf)
		if errors.Is(err, pgx.ErrNoRows) {
			r.eof = true
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read import file: %w", err)
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (t *Transfer) file(ctx context.Context, jobID string) io.Reader {
	return &chunkReader{ctx: ctx, t: t, job: jobID}
}

// RunImportJob runs a claimed job to its end: a first pass over the whole file (encoding,
// structure, formulas, row count), then rows in batches: convert and validate, look for
// duplicates in the file and among existing customers, and write the new customers with their
// events and the job's report. A file refused as a whole fails the job and writes nothing. When
// ctx ends (shutdown) the job goes back to the queue; a valid-only job resumes without creating
// its rows twice.
func (t *Transfer) RunImportJob(ctx context.Context, job *ImportJob) error {
	hbCtx, stopHeartbeat := context.WithCancel(ctx)
	go t.heartbeat(hbCtx, job.ID)
	err := t.runImport(ctx, job)
	stopHeartbeat()

	// The outcome is recorded even when ctx has just ended.
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var fe *transfer.FileError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &fe):
		return t.failJob(octx, job, fe)
	case ctx.Err() != nil:
		_, uerr := t.pool.Exec(octx, `UPDATE import_jobs SET status = 'queued' WHERE id = $1 AND status = 'running'`, job.ID)
		return errors.Join(err, uerr)
	}
	ferr := t.failJob(octx, job, &transfer.FileError{Reason: "INTERNAL", Message: validate.Message{
		ZH: "导入时发生内部错误，请稍后重试", EN: "the import failed because of an internal error; try again later"}})
	return errors.Join(fmt.Errorf("import job %s: %w", job.ID, err), ferr)
}

func (t *Transfer) heartbeat(ctx context.Context, jobID string) {
	tick := time.NewTicker(heartbeatPeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			_, _ = t.pool.Exec(ctx, `UPDATE import_jobs SET heartbeat_at = $2 WHERE id = $1`, jobID, t.now())
		}
	}
}

// failJob ends a job as failed with the file's issues as its report; the file is dropped.
func (t *Transfer) failJob(ctx context.Context, job *ImportJob, fe *transfer.FileError) error {
	return pgdb.InTx(ctx, t.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM import_issues WHERE job_id = $1`, job.ID); err != nil {
			return err
		}
		if err := copyIssues(ctx, tx, job.ID, 0, fe.Issues); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE import_jobs SET status = 'failed', error_reason = $2, error_zh = $3, error_en = $4,
			issue_count = $5, finished_at = $6 WHERE id = $1`,
			job.ID, fe.Reason, fe.Message.ZH, fe.Message.EN, len(fe.Issues), t.now()); err != nil {
			return fmt.Errorf("fail import job: %w", err)
		}
		_, err := tx.Exec(ctx, `DELETE FROM import_chunks WHERE job_id = $1`, job.ID)
		return err
	})
}

func copyIssues(ctx context.Context, q pgx.Tx, jobID string, first int, issues []transfer.Issue) error {
	if len(issues) == 0 {
		return nil
	}
	_, err := q.CopyFrom(ctx, pgx.Identifier{"import_issues"},
		[]string{"job_id", "n", "row_number", "column_name", "field", "reason", "kind", "message_zh", "message_en"},
		pgx.CopyFromSlice(len(issues), func(i int) ([]any, error) {
			is := issues[i]
			return []any{jobID, first + i + 1, is.Row, is.Column, is.Field, is.Reason, string(is.Kind), is.Message.ZH, is.Message.EN}, nil
		}))
	if err != nil {
		return fmt.Errorf("store import issues: %w", err)
	}
	return nil
}

// open runs the first pass over a job's file and returns a reader for the second.
func (t *Transfer) open(ctx context.Context, job *ImportJob) (transfer.Scan, *transfer.Reader, error) {
	var head [8]byte
	n, err := io.ReadFull(t.file(ctx, job.ID), head[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return transfer.Scan{}, nil, err
	}
	format, err := transfer.DetectFormat(job.Options.FileName, head[:n], job.Options.Format)
	if err != nil {
		return transfer.Scan{}, nil, err
	}
	if format == transfer.FormatCSV {
		sc, err := transfer.ScanCSV(t.file(ctx, job.ID), t.limits)
		if err != nil {
			return sc, nil, err
		}
		rd, err := transfer.OpenCSV(t.file(ctx, job.ID), sc)
		return sc, rd, err
	}
	// A workbook is a zip archive: it is read whole (the upload limit bounds it).
	data, err := io.ReadAll(t.file(ctx, job.ID))
	if err != nil {
		return transfer.Scan{}, nil, err
	}
	sc, err := transfer.ScanXLSX(data, job.Options.Sheet, t.limits)
	if err != nil {
		return sc, nil, err
	}
	rd, err := transfer.OpenXLSX(data, sc)
	return sc, rd, err
}

// pendingRow is one converted data row waiting for its batch.
type pendingRow struct {
	row    int
	c      *customer.Customer
	issues []transfer.Issue
	// keys are set for valid rows.
	keys transfer.Keys
}

// importRun is the state of one run of one job.
type importRun struct {
	t    *Transfer
	job  *ImportJob
	conv *transfer.Converter
	seen *transfer.Seen
	// resumed are rows a previous, interrupted run of this job already created.
	resumed map[int]bool
	// aon is the one transaction of an all-or-nothing import.
	aon pgx.Tx
	// Counts so far; created includes, in a dry run, the rows that would be created.
	done, created, skipped, failed, issues int
}

func (t *Transfer) runImport(ctx context.Context, job *ImportJob) error {
	if _, err := t.pool.Exec(ctx, `DELETE FROM import_issues WHERE job_id = $1`, job.ID); err != nil {
		return fmt.Errorf("reset import issues: %w", err)
	}
	sc, rd, err := t.open(ctx, job)
	if err != nil {
		return err
	}
	defer rd.Close()
	m, err := transfer.ReadHeader(rd, job.Options.Mapping, sc.Encoding == transfer.EncodingGB18030)
	if err != nil {
		return err
	}
	job.Format, job.Encoding, job.TotalRows = sc.Format, sc.Encoding, max(sc.Rows-1, 0)
	job.Columns, job.Ignored = m.Columns(), m.Ignored
	columns, err := json.Marshal(job.Columns)
	if err != nil {
		return err
	}
	ignored, err := json.Marshal(job.Ignored)
	if err != nil {
		return err
	}
	if _, err := t.pool.Exec(ctx, `UPDATE import_jobs SET format = $2, encoding = $3, total_rows = $4, columns = $5, ignored = $6,
		done_rows = 0, created_count = 0, skipped_count = 0, failed_count = 0, issue_count = 0 WHERE id = $1`,
		job.ID, string(sc.Format), string(sc.Encoding), job.TotalRows, columns, ignored); err != nil {
		return fmt.Errorf("update import job: %w", err)
	}

	run := &importRun{t: t, job: job, conv: transfer.NewConverter(m, job.Importer(), t.now()), seen: transfer.NewSeen(), resumed: map[int]bool{}}
	if err := run.loadResumed(ctx); err != nil {
		return err
	}
	if job.Options.Mode == ModeAllOrNothing {
		if run.aon, err = t.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}); err != nil {
			return fmt.Errorf("begin import: %w", err)
		}
		defer func() {
			if run.aon != nil {
				_ = run.aon.Rollback(context.WithoutCancel(ctx))
			}
		}()
	}
	// Reading and converting rows (CPU here) overlaps with checking and writing the previous
	// batch (mostly work in PostgreSQL).
	batches := make(chan []pendingRow, 1)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(batches)
		return run.convert(gctx, rd, batches)
	})
	g.Go(func() error {
		if job.Options.Mode == ModeValidOnly {
			return run.writePipelined(gctx, batches)
		}
		for b := range batches {
			if err := run.flush(gctx, b); err != nil {
				return err
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	return run.finish(ctx)
}

// readRow is a data row as read from the file.
type readRow struct {
	n     int
	cells []string
}

// convert reads the data rows and sends them converted, in batches. Parsing the file and
// converting its rows run in two goroutines, so that the slower of the two, not their sum, sets
// the pace at which batches reach PostgreSQL: in one goroutine, with excelize parsing XLSX at
// about 100 µs a row and conversion taking 40 µs, their sum was the import's critical path while
// PostgreSQL sat idle waiting for batches.
func (r *importRun) convert(ctx context.Context, rd *transfer.Reader, out chan<- []pendingRow) error {
	read := make(chan []readRow, 4)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(read)
		return readRows(gctx, rd, read)
	})
	g.Go(func() error {
		batch := make([]pendingRow, 0, r.t.batch)
		for chunk := range read {
			for _, row := range chunk {
				p := pendingRow{row: row.n}
				p.c, p.issues = r.conv.Convert(row.n, row.cells)
				if len(p.issues) == 0 {
					p.keys = transfer.KeysOf(p.c)
				}
				batch = append(batch, p)
				if len(batch) == cap(batch) {
					select {
					case out <- batch:
					case <-gctx.Done():
						return gctx.Err()
					}
					batch = make([]pendingRow, 0, r.t.batch)
				}
			}
		}
		if len(batch) > 0 && gctx.Err() == nil {
			select {
			case out <- batch:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	return g.Wait()
}

// readRows sends the file's non-blank rows in chunks.
func readRows(ctx context.Context, rd *transfer.Reader, out chan<- []readRow) error {
	const chunkRows = 500
	chunk := make([]readRow, 0, chunkRows)
	send := func() error {
		select {
		case out <- chunk:
			chunk = make([]readRow, 0, chunkRows)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		row, cells, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if blankRow(cells) {
			continue
		}
		// The reader may reuse cells for its next row; the strings themselves are not reused.
		chunk = append(chunk, readRow{n: row, cells: slices.Clone(cells)})
		if len(chunk) == chunkRows {
			if err := send(); err != nil {
				return err
			}
		}
	}
	if len(chunk) == 0 {
		return nil
	}
	return send()
}

func blankRow(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// loadResumed reads the rows an interrupted earlier run of this job created.
func (r *importRun) loadResumed(ctx context.Context) error {
	rows, err := r.t.pool.Query(ctx, `SELECT row_number FROM import_rows WHERE job_id = $1`, r.job.ID)
	if err != nil {
		return fmt.Errorf("read imported rows: %w", err)
	}
	ns, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("read imported rows: %w", err)
	}
	for _, n := range ns {
		r.resumed[int(n)] = true
	}
	return nil
}

// outcome is what a batch decided; it is added to the run once the batch's writes committed.
type outcome struct {
	create                   []*pendingRow
	issues                   []transfer.Issue
	resumed, skipped, failed int
	// seen holds the keys of the batch's new rows until the batch is done.
	seen *transfer.Seen
}

// decide sorts a batch, in file order, into rows to create, duplicates (of earlier rows of the
// file, then of existing customers) and failures. Its keys go into a layer over seen. Rows of
// the file come first so that a repeat is reported as one whether or not the row it repeats was
// already written by an earlier batch (and so is an existing customer too).
func (r *importRun) decide(rows []pendingRow, existing map[string]string, seen *transfer.Seen) outcome {
	o := outcome{seen: seen.Layer()}
	for i := range rows {
		p := &rows[i]
		switch {
		case r.resumed[p.row]:
			o.resumed++
			o.seen.Add(p.row, transfer.KeysOf(p.c))
		case len(p.issues) > 0:
			o.failed++
			o.issues = append(o.issues, p.issues...)
		default:
			if first, field, ok := o.seen.Match(p.keys); ok {
				o.skipped++
				o.issues = append(o.issues, r.conv.DuplicateInFile(p.row, field, first))
			} else if id, field := matchExisting(existing, p.keys); id != "" {
				o.skipped++
				o.issues = append(o.issues, r.conv.DuplicateExisting(p.row, field, id))
			} else {
				o.seen.Add(p.row, p.keys)
				o.create = append(o.create, p)
			}
		}
	}
	return o
}

func matchExisting(existing map[string]string, k transfer.Keys) (id, field string) {
	for _, f := range [...]struct{ field, key string }{{"uscc", k.USCC}, {"name", k.Name}, {"mobile", k.Mobile}, {"email", k.Email}} {
		if f.key == "" {
			continue
		}
		if id, ok := existing[f.field+"\x00"+f.key]; ok {
			return id, f.field
		}
	}
	return "", ""
}

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// lookupExisting finds the live customers that share a key with a valid row of the batch. The
// result maps "field\x00key" to a customer id.
//
// Each key is one probe of its partial index (a scalar subquery with LIMIT 1 per array element).
// A single query with name_key = ANY($1) OR mobile = ANY($2) … reads the same, but right after a
// bulk load, before autovacuum has analysed the table, the planner takes thousands of ANY values
// for most of the table and scans all of it for every batch (measured: 30 times slower).
func (r *importRun) lookupExisting(ctx context.Context, q querier, rows []pendingRow) (map[string]string, error) {
	var names, mobiles, usccs, emails []string
	for _, p := range rows {
		if len(p.issues) > 0 || r.resumed[p.row] {
			continue
		}
		names, mobiles = append(names, p.keys.Name), append(mobiles, p.keys.Mobile)
		if p.keys.USCC != "" {
			usccs = append(usccs, p.keys.USCC)
		}
		if p.keys.Email != "" {
			emails = append(emails, p.keys.Email)
		}
	}
	out := map[string]string{}
	if len(names) == 0 {
		return out, nil
	}
	res, err := q.Query(ctx, `SELECT f, k, id FROM (
			SELECT 'name' AS f, k, (SELECT id FROM customers WHERE name_key = k AND name_key <> '' AND deleted_at IS NULL LIMIT 1) AS id FROM unnest($1::text[]) k
			UNION ALL
			SELECT 'mobile', k, (SELECT id FROM customers WHERE mobile = k AND mobile <> '' AND deleted_at IS NULL LIMIT 1) FROM unnest($2::text[]) k
			UNION ALL
			SELECT 'uscc', k, (SELECT id FROM customers WHERE uscc = k AND uscc <> '' AND deleted_at IS NULL LIMIT 1) FROM unnest($3::text[]) k
			UNION ALL
			SELECT 'email', k, (SELECT id FROM customers WHERE email = k AND email <> '' AND deleted_at IS NULL LIMIT 1) FROM unnest($4::text[]) k
		) m WHERE id IS NOT NULL`, names, mobiles, usccs, emails)
	if err != nil {
		return nil, fmt.Errorf("find duplicates: %w", err)
	}
	defer res.Close()
	for res.Next() {
		var field, key, id string
		if err := res.Scan(&field, &key, &id); err != nil {
			return nil, err
		}
		out[field+"\x00"+key] = id
	}
	return out, res.Err()
}

// maxBatchAttempts bounds the retries of a batch that met a concurrent create of the same USCC.
const maxBatchAttempts = 3

// flush checks and writes a batch and records its outcome with the job's progress.
func (r *importRun) flush(ctx context.Context, batch []pendingRow) error {
	if len(batch) == 0 {
		return nil
	}
	var o outcome
	var err error
	switch r.job.Options.Mode {
	case ModeDryRun:
		var existing map[string]string
		if existing, err = r.lookupExisting(ctx, r.t.pool, batch); err != nil {
			return err
		}
		o = r.decide(batch, existing, r.seen)
		err = pgdb.InTx(ctx, r.t.pool, func(tx pgx.Tx) error { return r.record(ctx, tx, len(batch), o) })
	case ModeAllOrNothing:
		if o, err = r.flushAllOrNothing(ctx, batch); err != nil {
			return err
		}
		// The progress is written outside the import's transaction, so that it can be seen.
		err = pgdb.InTx(ctx, r.t.pool, func(tx pgx.Tx) error { return r.record(ctx, tx, len(batch), o) })
	default:
		o, err = r.flushValidOnly(ctx, batch)
	}
	if err != nil {
		return err
	}
	o.seen.Commit()
	r.count(len(batch), o)
	return nil
}

// count adds a committed batch of n rows to the run's counts.
func (r *importRun) count(n int, o outcome) {
	r.done += n
	r.created += o.resumed + len(o.create)
	r.skipped += o.skipped
	r.failed += o.failed
	r.issues += len(o.issues)
}

// stage is one batch of a valid-only import on its way through writePipelined.
type stage struct {
	rows []pendingRow
	o    outcome
	// decided is closed once o is decided (or the stage failed before); done once the stage's
	// transaction has ended, with err set before.
	decided, done chan struct{}
	err           error
}

// errEarlierBatch fails a stage whose predecessor failed: its decision built on that batch.
var errEarlierBatch = errors.New("an earlier batch failed")

// writePipelined writes the batches of a valid-only import two at a time, each in its own
// transaction on its own connection: while PostgreSQL inserts one batch, a second backend looks
// up and inserts the next. One backend was the import's limit: it spent about 90 µs a row with
// the machine's other core half idle (docs/benchmarks.md, "Import and export"). Stages still
// decide and commit in file order: a batch is decided over the keys of the batch before it, and
// writes its issues and the job's progress only after that batch committed. A batch that meets a
// concurrent create of the same USCC fails with the batch after it (decided over it); both are
// then written again one at a time, as flush does, and the pipeline goes on.
func (r *importRun) writePipelined(ctx context.Context, batches <-chan []pendingRow) error {
	var mu sync.Mutex // guards r.seen and the layers while stages decide and commit
	// A stage holds a connection for its transaction and, while it inserts, briefly a second one
	// for a block of ids; the outbox relay holds one to listen. With fewer than four connections
	// two stages could hold all the relay leaves and wait for each other: then one at a time.
	depth := 2
	if r.t.pool.Config().MaxConns < 4 {
		depth = 1
	}
	slots := make(chan struct{}, depth)
	var inflight []*stage
	// drain waits for every stage in flight; the ones that failed on a unique violation (and the
	// ones after them) are written again, one at a time. Any other failure ends the import, once
	// no stage is running any more.
	drain := func() error {
		for _, st := range inflight {
			<-st.done
		}
		var redo [][]pendingRow
		for _, st := range inflight {
			if st.err == nil {
				continue
			}
			if _, dup := pgdb.UniqueViolation(st.err); !dup && !errors.Is(st.err, errEarlierBatch) {
				return st.err
			}
			redo = append(redo, st.rows)
		}
		inflight = inflight[:0]
		for _, rows := range redo {
			if err := r.flush(ctx, rows); err != nil {
				return err
			}
		}
		return nil
	}
	var prev *stage
	for rows := range batches {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			for _, st := range inflight {
				<-st.done
			}
			return ctx.Err()
		}
		// The finished stages at the front are done with; a failure sends everything in flight
		// through drain before the next batch starts.
		for len(inflight) > 0 && isClosed(inflight[0].done) && inflight[0].err == nil {
			inflight = inflight[1:]
		}
		if slices.ContainsFunc(inflight, func(st *stage) bool { return isClosed(st.done) && st.err != nil }) {
			if err := drain(); err != nil {
				return err
			}
			prev = nil
		}
		st := &stage{rows: rows, decided: make(chan struct{}), done: make(chan struct{})}
		inflight = append(inflight, st)
		go func(st, prev *stage) {
			defer func() { <-slots }()
			st.err = r.writeStage(ctx, &mu, st, prev)
			close(st.done)
		}(st, prev)
		prev = st
	}
	return drain()
}

// isClosed reports whether c is closed, without waiting.
func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// writeStage looks up, decides and inserts one batch in its own transaction, then waits for the
// batch before it to commit, writes the issues and the progress, and commits.
func (r *importRun) writeStage(ctx context.Context, mu *sync.Mutex, st, prev *stage) error {
	decided := false
	defer func() {
		if !decided {
			close(st.decided)
		}
	}()
	err := pgdb.InTx(ctx, r.t.pool, func(tx pgx.Tx) error {
		existing, err := r.lookupExisting(ctx, tx, st.rows)
		if err != nil {
			return err
		}
		// Decided over the batch before: its layer holds its keys until it commits, and is an
		// empty window onto everything committed after that.
		seen := r.seen
		if prev != nil {
			<-prev.decided
			if prev.o.seen == nil {
				return errEarlierBatch
			}
			seen = prev.o.seen
		}
		mu.Lock()
		st.o = r.decide(st.rows, existing, seen)
		mu.Unlock()
		decided = true
		close(st.decided)
		if err := r.t.insert(ctx, tx, r.job, st.o.create); err != nil {
			return err
		}
		if prev != nil {
			if <-prev.done; prev.err != nil {
				return errEarlierBatch
			}
		}
		// Every earlier batch is committed and counted.
		return r.record(ctx, tx, len(st.rows), st.o)
	})
	if err != nil {
		return err
	}
	mu.Lock()
	st.o.seen.Commit()
	mu.Unlock()
	r.count(len(st.rows), st.o)
	return nil
}

// flushAllOrNothing writes the batch inside the import's one transaction, under a savepoint so
// that a customer created meanwhile with the same USCC repeats only this batch. Once a row has
// failed nothing more is written: the transaction will be rolled back.
func (r *importRun) flushAllOrNothing(ctx context.Context, batch []pendingRow) (outcome, error) {
	for attempt := 1; ; attempt++ {
		existing, err := r.lookupExisting(ctx, r.aon, batch)
		if err != nil {
			return outcome{}, err
		}
		o := r.decide(batch, existing, r.seen)
		if r.failed+o.failed > 0 {
			return o, nil
		}
		sp, err := r.aon.Begin(ctx)
		if err != nil {
			return outcome{}, err
		}
		if err = r.t.insert(ctx, sp, r.job, o.create); err == nil {
			return o, sp.Commit(ctx)
		}
		_ = sp.Rollback(ctx)
		if _, dup := pgdb.UniqueViolation(err); !dup || attempt == maxBatchAttempts {
			return outcome{}, err
		}
	}
}

// flushValidOnly writes the batch, its issues and the job's progress in one transaction, so that
// the job's counts always match what is committed.
func (r *importRun) flushValidOnly(ctx context.Context, batch []pendingRow) (outcome, error) {
	for attempt := 1; ; attempt++ {
		var o outcome
		err := pgdb.InTx(ctx, r.t.pool, func(tx pgx.Tx) error {
			existing, err := r.lookupExisting(ctx, tx, batch)
			if err != nil {
				return err
			}
			o = r.decide(batch, existing, r.seen)
			if err := r.t.insert(ctx, tx, r.job, o.create); err != nil {
				return err
			}
			return r.record(ctx, tx, len(batch), o)
		})
		if err == nil {
			return o, nil
		}
		if _, dup := pgdb.UniqueViolation(err); !dup || attempt == maxBatchAttempts {
			return outcome{}, err
		}
	}
}

// record stores the issues of a batch of n rows and the job's progress including the batch.
func (r *importRun) record(ctx context.Context, tx pgx.Tx, n int, o outcome) error {
	if err := copyIssues(ctx, tx, r.job.ID, r.issues, o.issues); err != nil {
		return err
	}
	done := r.done + n
	_, err := tx.Exec(ctx, `UPDATE import_jobs SET done_rows = $2, created_count = $3, skipped_count = $4, failed_count = $5,
		issue_count = $6, total_rows = GREATEST(total_rows, $2), heartbeat_at = $7 WHERE id = $1`,
		r.job.ID, done, r.created+o.resumed+len(o.create), r.skipped+o.skipped, r.failed+o.failed, r.issues+len(o.issues), r.t.now())
	if err != nil {
		return fmt.Errorf("record import progress: %w", err)
	}
	return nil
}

// finish ends the run: an all-or-nothing import commits or rolls back as a whole, the job is
// marked done or failed, the import itself is audited, and the file is dropped.
func (r *importRun) finish(ctx context.Context) error {
	if r.done == 0 {
		return &transfer.FileError{Reason: transfer.ReasonFileEmpty, Message: validate.Message{
			ZH: "文件中只有表头，没有数据行", EN: "the file has a header but no data rows"}}
	}
	status, reason, msg := StatusDone, "", validate.Message{}
	created := r.created
	if r.job.Options.Mode == ModeAllOrNothing && r.failed > 0 {
		status, reason, created = StatusFailed, "ROWS_INVALID", 0
		msg = validate.Message{
			ZH: fmt.Sprintf("%d 行有错误，按“全部成功或全部不导入”模式未导入任何客户；请修正后重新上传", r.failed),
			EN: fmt.Sprintf("%d rows have errors, so nothing was imported (all-or-nothing); fix them and upload again", r.failed)}
		if err := r.aon.Rollback(ctx); err != nil {
			return err
		}
		r.aon = nil
	}
	now := r.t.now()
	end := func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE import_jobs SET status = $2, error_reason = $3, error_zh = $4, error_en = $5,
			done_rows = $6, total_rows = $6, created_count = $7, skipped_count = $8, failed_count = $9, finished_at = $10
			WHERE id = $1`, r.job.ID, string(status), reason, msg.ZH, msg.EN, r.done, created, r.skipped, r.failed, now); err != nil {
			return fmt.Errorf("finish import job: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM import_chunks WHERE job_id = $1`, r.job.ID); err != nil {
			return err
		}
		if r.job.Options.Mode == ModeDryRun || created == 0 {
			return nil
		}
		return r.t.addJobEvent(ctx, tx, r.job, "completed", map[string]any{
			"file_name": r.job.Options.FileName, "mode": string(r.job.Options.Mode), "created_count": created,
			"skipped_count": r.skipped, "failed_count": r.failed})
	}
	if r.aon != nil {
		if err := end(r.aon); err != nil {
			return err
		}
		err := r.aon.Commit(ctx)
		r.aon = nil
		return err
	}
	return pgdb.InTx(ctx, r.t.pool, end)
}

// addJobEvent audits an import job (customer_import.completed, .undone) through the outbox.
func (t *Transfer) addJobEvent(ctx context.Context, tx pgx.Tx, job *ImportJob, action string, fields map[string]any) error {
	return t.addRecordEvent(ctx, tx, "customer_import", action, job.ID, job.actor(), fields)
}

// addRecordEvent writes an event whose changes are the given fields (after values), in order of
// their names, with the same fields as its data.
func (t *Transfer) addRecordEvent(ctx context.Context, tx pgx.Tx, entity, action, id string, actor Actor, fields map[string]any) error {
	data, err := structpb.NewStruct(fields)
	if err != nil {
		return fmt.Errorf("event data: %w", err)
	}
	var changes []*commonv1.FieldChange
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		fc, err := events.Change(k, nil, fields[k])
		if err != nil {
			return fmt.Errorf("event change %s: %w", k, err)
		}
		changes = append(changes, fc)
	}
	ev, err := events.New(ctx, Schema, entity, action, id, actor.proto(), 1, data, changes)
	if err != nil {
		return fmt.Errorf("build event: %w", err)
	}
	return outbox.Add(ctx, tx, ev)
}

// copyColumns are the customer columns an import writes, in the order of values(), and name_key.
var copyColumns = func() []string {
	var cols []string
	for _, c := range strings.Split(columns, ",") {
		cols = append(cols, strings.TrimSpace(c))
	}
	return append(cols, "name_key")
}()

// outboxRow is an event ready for the outbox table.
type outboxRow struct {
	id      pgtype.UUID
	subject string
	payload []byte
}

// insert creates customers in bulk inside tx: ids from the import's block allocator, the rows,
// which job row created which customer, and one customer.created event each (actor: the
// importer; an extra change names the import job), all through COPY, then wakes the relay.
func (t *Transfer) insert(ctx context.Context, tx pgx.Tx, job *ImportJob, rows []*pendingRow) error {
	if len(rows) == 0 {
		return nil
	}
	if t.beforeInsert != nil {
		t.beforeInsert(ctx, rows[0].row)
	}
	now := t.now()
	actor := job.actor()
	for _, p := range rows {
		id, err := t.ids.Next(ctx)
		if err != nil {
			return fmt.Errorf("allocate id: %w", err)
		}
		c := p.c
		c.ID, c.Version = id, 1
		c.CreatedAt, c.UpdatedAt, c.StatusChangedAt = now, now, now
		c.CreatedBy, c.UpdatedBy, c.StatusChangedBy = actor.UserID, actor.UserID, actor.UserID
	}
	// The events are built (CPU here) while PostgreSQL takes the rows (CPU there).
	evs := make([]outboxRow, len(rows))
	built := make(chan error, 1)
	go func() {
		built <- t.buildEvents(ctx, evs, func(i int) (*customer.Customer, *customer.Customer, []*commonv1.FieldChange, error) {
			extra, err := events.Change("import_job_id", nil, job.ID)
			return nil, rows[i].c, []*commonv1.FieldChange{extra}, err
		}, ActionCreated, actor)
	}()
	err := t.copyCustomers(ctx, tx, job, rows)
	if berr := <-built; err == nil {
		err = berr
	}
	if err != nil {
		return err
	}
	return copyOutbox(ctx, tx, evs)
}

// copyCustomers writes the rows of new customers and which job row created each.
func (t *Transfer) copyCustomers(ctx context.Context, tx pgx.Tx, job *ImportJob, rows []*pendingRow) error {
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"customers"}, copyColumns, pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		vals, err := values(rows[i].c)
		if err != nil {
			return nil, err
		}
		return append(vals, rows[i].keys.Name), nil
	})); err != nil {
		return fmt.Errorf("copy customers: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"import_rows"}, []string{"job_id", "row_number", "customer_id"},
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) { return []any{job.ID, rows[i].row, rows[i].c.ID}, nil })); err != nil {
		return fmt.Errorf("copy import rows: %w", err)
	}
	return nil
}

// buildEvents builds len(out) customer events in parallel: rendering a customer, diffing and
// marshalling are CPU work that would otherwise dominate a bulk write. get returns the i-th
// customer before and after the change and extra changes.
func (t *Transfer) buildEvents(ctx context.Context, out []outboxRow, get func(i int) (before, after *customer.Customer, extra []*commonv1.FieldChange, err error),
	action string, actor Actor) error {
	if err := checkAction(action); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		g.Go(func() error {
			for i := w; i < len(out); i += workers {
				before, after, extra, err := get(i)
				if err != nil {
					return err
				}
				var changes []*commonv1.FieldChange
				for _, ch := range customer.Diff(before, after) {
					fc, err := events.Change(ch.Field, ch.Before, ch.After)
					if err != nil {
						return fmt.Errorf("event change %s: %w", ch.Field, err)
					}
					changes = append(changes, fc)
				}
				ev, err := events.New(gctx, Schema, "customer", action, after.ID, actor.proto(), after.Version, t.eventData(after), append(changes, extra...))
				if err != nil {
					return fmt.Errorf("build event: %w", err)
				}
				subject, payload, err := events.Encode(ev)
				if err != nil {
					return err
				}
				u, err := uuid.Parse(ev.GetId())
				if err != nil {
					return err
				}
				out[i] = outboxRow{id: pgtype.UUID{Bytes: u, Valid: true}, subject: subject, payload: payload}
			}
			return nil
		})
	}
	return g.Wait()
}

// copyOutbox writes events into the outbox table with COPY (the columns outbox.Add fills); the
// pool's outbox.Commits sees the COPY and wakes the relay when the transaction commits.
func copyOutbox(ctx context.Context, tx pgx.Tx, evs []outboxRow) error {
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"outbox"}, []string{"event_id", "subject", "payload"},
		pgx.CopyFromSlice(len(evs), func(i int) ([]any, error) { return []any{evs[i].id, evs[i].subject, evs[i].payload}, nil })); err != nil {
		return fmt.Errorf("copy outbox: %w", err)
	}
	return nil
}

// UndoImportJob soft-deletes exactly the customers a job created that are still live, each with a
// customer.deleted event whose reason names the job, marks the job undone and audits the undo.
func (t *Transfer) UndoImportJob(ctx context.Context, id string, reach Reach, actor Actor, reason string) (*ImportJob, error) {
	var job *ImportJob
	err := pgdb.InTx(ctx, t.pool, func(tx pgx.Tx) error {
		args := []any{id}
		var err error
		job, err = scanJob(tx.QueryRow(ctx, `SELECT `+jobColumns+` FROM import_jobs WHERE id = $1 AND status <> 'uploading' AND `+
			jobReach(reach, &args)+` FOR UPDATE`, args...))
		if err != nil {
			return err
		}
		if job.Options.Mode == ModeDryRun || (job.Status != StatusDone && job.Status != StatusFailed) {
			return &UndoError{Status: job.Status}
		}
		deleteReason := "撤销导入 " + job.ID
		if reason != "" {
			deleteReason += "：" + reason
		}
		now := t.now()
		n, after := 0, 0
		for {
			// Keyset over the job's rows, then primary-key updates: flat memory for any size.
			var ids []string
			if err := tx.QueryRow(ctx, `SELECT coalesce(array_agg(customer_id ORDER BY row_number), '{}'), coalesce(max(row_number), 0)
				FROM (SELECT customer_id, row_number FROM import_rows WHERE job_id = $1 AND row_number > $2 ORDER BY row_number LIMIT 2000) b`,
				job.ID, after).Scan(&ids, &after); err != nil {
				return fmt.Errorf("undo import: %w", err)
			}
			if len(ids) == 0 {
				break
			}
			rows, err := tx.Query(ctx, `UPDATE customers SET deleted_at = $2, deleted_by = $3, delete_reason = $4, updated_at = $2, updated_by = $3,
					version = version + 1
				WHERE id = ANY($1) AND deleted_at IS NULL
				RETURNING `+columns, ids, now, actor.UserID, deleteReason)
			if err != nil {
				return fmt.Errorf("undo import: %w", err)
			}
			deleted, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*customer.Customer, error) { return scanCustomer(row) })
			if err != nil {
				return fmt.Errorf("undo import: %w", err)
			}
			if len(deleted) == 0 {
				continue
			}
			n += len(deleted)
			evs := make([]outboxRow, len(deleted))
			if err := t.buildEvents(ctx, evs, func(i int) (*customer.Customer, *customer.Customer, []*commonv1.FieldChange, error) {
				before := *deleted[i]
				before.DeletedAt, before.DeletedBy, before.DeleteReason, before.Version = nil, "", "", deleted[i].Version-1
				return &before, deleted[i], nil, nil
			}, ActionDeleted, actor); err != nil {
				return err
			}
			if err := copyOutbox(ctx, tx, evs); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE import_jobs SET status = 'undone', undone_at = $2, undone_by = $3, undone_count = $4 WHERE id = $1`,
			job.ID, now, actor.UserID, n); err != nil {
			return fmt.Errorf("mark import undone: %w", err)
		}
		job.Status, job.UndoneAt, job.UndoneBy, job.UndoneCount = StatusUndone, &now, actor.UserID, n
		return t.addRecordEvent(ctx, tx, "customer_import", "undone", job.ID, actor, map[string]any{
			"file_name": job.Options.FileName, "undone_count": n, "reason": reason})
	})
	return job, err
}

// ExportCustomers calls fn with every customer the list input selects, in its order, a page at a
// time (keyset pages of 1,000, never OFFSET), so that memory stays flat for any number of rows.
// It returns how many customers it passed to fn.
func (t *Transfer) ExportCustomers(ctx context.Context, in ListInput, fn func(*customer.Customer) error) (int, error) {
	in.PageSize = 1000
	n := 0
	for {
		page, next, err := t.List(ctx, in)
		if err != nil {
			return n, err
		}
		for _, c := range page {
			if err := fn(c); err != nil {
				return n, err
			}
			n++
		}
		if next == nil {
			return n, nil
		}
		in.After = next
	}
}

// ExportRecord is the audit record of one export: who (the actor), when (the event time), which
// filter, and what was written.
type ExportRecord struct {
	ID          string
	Format      string
	Filter      string
	OrderBy     string
	ShowDeleted bool
	Masked      bool
	Rows        int
	Completed   bool
	FileName    string
}

// RecordExport audits an export as a customer_export.exported event through the outbox.
func (t *Transfer) RecordExport(ctx context.Context, rec ExportRecord, actor Actor) error {
	return pgdb.InTx(ctx, t.pool, func(tx pgx.Tx) error {
		return t.addRecordEvent(ctx, tx, "customer_export", "exported", rec.ID, actor, map[string]any{
			"format": rec.Format, "filter": rec.Filter, "order_by": rec.OrderBy, "show_deleted": rec.ShowDeleted,
			"masked": rec.Masked, "row_count": rec.Rows, "completed": rec.Completed, "file_name": rec.FileName})
	})
}
