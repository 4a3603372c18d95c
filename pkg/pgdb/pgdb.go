// Package pgdb owns the PostgreSQL plumbing every service shares: the connection pool (one schema
// per service on the search_path, OpenTelemetry tracing), embedded SQL migrations applied under an
// advisory lock, transaction helpers (InTx, and InBatchTx for pipelined ones), and SQLSTATE-based
// error classification.
//
// It must not import service code, gRPC or NATS: callers map its answers (UniqueViolation,
// IsUnavailable) to their own errors.
package pgdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// schemaPattern is what a schema name may look like: a lower-case unquoted PostgreSQL identifier.
// Names are still quoted with pgx.Identifier when they go into SQL.
var schemaPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// ValidSchema reports an error unless name is a lower-case identifier (^[a-z_][a-z0-9_]{0,62}$).
func ValidSchema(name string) error {
	if !schemaPattern.MatchString(name) {
		return fmt.Errorf("pgdb: invalid schema name %q (want ^[a-z_][a-z0-9_]{0,62}$)", name)
	}
	return nil
}

// Connect opens a pool to url whose connections have search_path set to <schema>, public (and
// application_name to <schema>, unless the URL names one), traced with otelpgx (statements
// without their parameters) and the given tracers (outbox.Commits), and pings the server once.
// The pool holds at most DefaultMaxConns connections (or pgx's default, one per CPU, when that
// is more); sizes and timeouts are as the URL sets them (pool_max_conns, pool_min_conns, …).
func Connect(ctx context.Context, url, schema string, tracers ...pgx.QueryTracer) (*pgxpool.Pool, error) {
	return open(ctx, url, schema, func(cfg *pgxpool.Config) {
		if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
			cfg.ConnConfig.RuntimeParams["application_name"] = schema
		}
		if !strings.Contains(url, "pool_max_conns") { // the same key in URL and key=value forms
			cfg.MaxConns = max(cfg.MaxConns, DefaultMaxConns)
		}
		if _, ok := cfg.ConnConfig.RuntimeParams[parallelWorkersParam]; !ok {
			cfg.ConnConfig.RuntimeParams[parallelWorkersParam] = DefaultParallelWorkers
		}
	}, tracers)
}

// parallelWorkersParam is the PostgreSQL setting of how many worker processes one query of a
// connection may start.
const parallelWorkersParam = "max_parallel_workers_per_gather"

// DefaultParallelWorkers is max_parallel_workers_per_gather for a service's connections unless its
// database URL sets it: none. The suite is sized for two cores shared by the database, six services
// and the gateway, where a query's parallel workers only compete with the requests for the same
// cores and cost processes of their own. A team's pipeline report (a hash join over 200,000 needs)
// ran 7.8 and 8.4 times a second with 4 clients and two workers a query, 28.4 and 27.2 without
// (docs/benchmarks.md). On a larger database server, set it in the URL
// (...?max_parallel_workers_per_gather=2).
const DefaultParallelWorkers = "0"

// DefaultMaxConns is a service's pool size unless its database URL sets pool_max_conns. A
// connection is held for a whole transaction, which mostly waits: for the service between
// statements and for the commit's WAL flush. pgx's default (4 on two cores) sizes for CPU, so
// on a fast machine four connections bounded customer creates at 1,261-1,296/s with the CPU 11 %
// idle; eight gave 1,452-1,469/s (docs/benchmarks.md, "A pool of eight"). Six services with
// eight each, and their relays' one, stay well inside PostgreSQL's default 100 connections, and
// a pool opens connections only as requests need them.
const DefaultMaxConns = 8

// ConnectOne is Connect for a pool of one connection, named name in application_name whatever
// the URL says: for a background worker (the outbox relay) that must not queue behind the
// requests for a connection of the service's pool, and whose work pg_stat_activity shows apart.
func ConnectOne(ctx context.Context, url, schema, name string) (*pgxpool.Pool, error) {
	return open(ctx, url, schema, func(cfg *pgxpool.Config) {
		cfg.MaxConns, cfg.MinConns = 1, 0
		cfg.ConnConfig.RuntimeParams["application_name"] = name
	}, nil)
}

func open(ctx context.Context, url, schema string, configure func(*pgxpool.Config), tracers []pgx.QueryTracer) (*pgxpool.Pool, error) {
	if err := ValidSchema(schema); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgconn redacts the password in parse errors.
		return nil, fmt.Errorf("pgdb: parse database URL: %w", err)
	}
	// Sent in the startup packet, so every connection, including ones the pool opens later, starts
	// in the service's schema without an extra round trip. The application_name (configure) lets
	// pg_stat_activity, and the logs with %a, tell which service a connection belongs to.
	cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize() + ", public"
	configure(cfg)
	cfg.ConnConfig.Tracer = otelpgx.NewTracer()
	if len(tracers) > 0 {
		cfg.ConnConfig.Tracer = multitracer.New(append([]pgx.QueryTracer{cfg.ConnConfig.Tracer}, tracers...)...)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgdb: open pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgdb: ping: %w", err)
	}
	return pool, nil
}

// InBatchTx runs fn on a pooled connection for a transaction whose statements fn sends in
// pipelined batches (SendBatch), a round trip per batch instead of per statement: BEGIN is the
// first statement of its first batch and COMMIT the last of its last (read with ReadCommit), as
// plain statements, since pgx.Tx would send COMMIT on its own, a round trip more. The statements
// of a batch still run one after the other, and after a failing one the server skips the rest of
// its batch and refuses to commit the aborted transaction. On every way out of fn but a commit
// (an error, a failed statement, a panic) InBatchTx rolls the transaction back; a connection on
// which even that fails is closed rather than pooled, which ends the transaction too.
func InBatchTx(ctx context.Context, pool *pgxpool.Pool, fn func(conn *pgxpool.Conn) error) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pgdb: acquire connection: %w", err)
	}
	// Release closes a connection that is still in a transaction.
	defer conn.Release()
	defer func() {
		if conn.Conn().PgConn().TxStatus() != 'I' {
			_, _ = conn.Exec(ctx, "ROLLBACK")
		}
	}()
	return fn(conn)
}

// SendBatch sends b on conn, hands its results to read and closes them; read's error, when it
// returns one, comes before Close's.
func SendBatch(ctx context.Context, conn *pgxpool.Conn, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	br := conn.SendBatch(ctx, b)
	err := read(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadCommit reads the result of a COMMIT queued in a batch. A COMMIT of a transaction that
// failed answers ROLLBACK without an error; ReadCommit returns pgx.ErrTxCommitRollback then.
func ReadCommit(br pgx.BatchResults) error {
	tag, err := br.Exec()
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if tag.String() != "COMMIT" {
		return fmt.Errorf("commit: %w", pgx.ErrTxCommitRollback)
	}
	return nil
}

// TxBatch returns a batch whose first statement begins a READ COMMITTED transaction (its result
// is the batch's first), for the first round trip of a transaction that InBatchTx runs.
func TxBatch() *pgx.Batch {
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	return b
}

// BeginQueryRow begins the transaction and runs q in the same round trip, handing q's row to scan
// (whose Scan reports pgx.ErrNoRows when there is none): the locking read that starts a
// read-modify-write in InBatchTx.
func BeginQueryRow(ctx context.Context, conn *pgxpool.Conn, q string, args []any, scan func(pgx.Row) error) error {
	b := TxBatch()
	b.Queue(q, args...)
	return SendBatch(ctx, conn, b, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		return scan(br.QueryRow())
	})
}

// PrepareBatch prepares each statement queued in b on conn, and the COMMIT that SendCommit adds,
// under its own text, unless it is prepared there already (then it costs a map look-up). pgx
// drops from its statement cache every statement of a batch that failed, so a batch that is
// expected to fail now and then (a transaction that a check stops with an error) would have all
// its statements parsed and planned again on its next run; statements prepared this way are
// pgx's explicit ones, which it keeps. They live as long as the connection, so use it only for
// batches made of a fixed set of statement texts (each distinct text stays prepared), and their
// tables must not change meanwhile (the services migrate before they serve).
func PrepareBatch(ctx context.Context, conn *pgxpool.Conn, b *pgx.Batch) error {
	for _, q := range b.QueuedQueries {
		if _, err := conn.Conn().Prepare(ctx, q.SQL, q.SQL); err != nil {
			return fmt.Errorf("pgdb: prepare: %w", err)
		}
	}
	if _, err := conn.Conn().Prepare(ctx, "COMMIT", "COMMIT"); err != nil {
		return fmt.Errorf("pgdb: prepare: %w", err)
	}
	return nil
}

// SendCommit queues COMMIT after b's statements, sends b on conn and reads the results: one per
// step, named in its error (which wraps the server's, so UniqueViolation still finds it), then
// the COMMIT (ReadCommit). It is the last round trip of a transaction that InBatchTx runs; when
// b came from TxBatch, the first step is the BEGIN.
func SendCommit(ctx context.Context, conn *pgxpool.Conn, b *pgx.Batch, steps ...string) error {
	b.Queue("COMMIT")
	return SendBatch(ctx, conn, b, func(br pgx.BatchResults) error {
		for _, step := range steps {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("%s: %w", step, err)
			}
		}
		return ReadCommit(br)
	})
}

// InTx runs fn in a READ COMMITTED transaction and commits when fn returns nil; otherwise, or when
// fn panics, it rolls back and returns fn's error.
func InTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fmt.Errorf("pgdb: begin: %w", err)
	}
	// After a commit this is a no-op; after an error it releases the connection's transaction.
	// A cancelled ctx makes pgx close the connection instead, which also ends the transaction.
	defer func() { _ = tx.Rollback(ctx) }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgdb: commit: %w", err)
	}
	return nil
}

// Each runs a query and calls fn with each row, scanned by scan, as the rows arrive: for exports,
// whose rows are handed on rather than collected, so that memory does not grow with them.
func Each[T any](ctx context.Context, pool *pgxpool.Pool, q string, args []any, scan func(pgx.Row) (T, error), fn func(T) error) error {
	rows, err := pool.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return err
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return rows.Err()
}

// UniqueViolation reports whether err is (or wraps) a unique_violation (SQLSTATE 23505), and the
// name of the violated constraint or index, so stores can tell "duplicate name" from "duplicate
// request id" without reading message text.
func UniqueViolation(err error) (constraint string, ok bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return pgErr.ConstraintName, true
	}
	return "", false
}

// IsUnavailable reports whether err says the database cannot be reached or went away rather than
// that the request was wrong, so a server can answer UNAVAILABLE and the client may retry: dial
// failures, broken connections, connection exceptions (SQLSTATE class 08), shutdowns and restarts
// (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now) and 53300
// too_many_connections. Context cancellation and deadlines are not included: callers map those to
// CANCELLED and DEADLINE_EXCEEDED.
func IsUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"),
			pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03",
			pgErr.Code == "53300":
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
