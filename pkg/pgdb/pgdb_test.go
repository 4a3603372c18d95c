package pgdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmsuite/crm/pkg/testkit"
)

func connect(t *testing.T, url, schema string) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := Connect(ctx, url, schema)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func TestValidSchema(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ok   bool
	}{
		{"customer", true},
		{"_x1", true},
		{"a_b_c", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{"", false},
		{"Customer", false},
		{"1abc", false},
		{"a-b", false},
		{`x"; DROP SCHEMA public; --`, false},
		{"a b", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := ValidSchema(tc.name); (err == nil) != tc.ok {
				t.Fatalf("ValidSchema(%q) = %v, want ok=%v", tc.name, err, tc.ok)
			}
		})
	}
}

func TestConnectRejectsBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := Connect(ctx, testkit.AdminURL(), "Bad-Schema"); err == nil {
		t.Error("Connect accepted an invalid schema name")
	}
	_, err := Connect(ctx, "postgres://u:topsecret@127.0.0.1:5432/db?pool_max_conns=lots", "svc")
	if err == nil {
		t.Fatal("Connect accepted an invalid pool_max_conns")
	}
	if strings.Contains(err.Error(), "topsecret") {
		t.Errorf("error leaks the password: %v", err)
	}
}

func TestConnectSetsSearchPathApplicationNamePoolSizeAndWorkers(t *testing.T) {
	t.Parallel()
	url := testkit.NewDatabase(t)
	pool := connect(t, url+"&pool_max_conns=3", "svc")
	ctx := context.Background()
	if got := pool.Config().MaxConns; got != 3 {
		t.Errorf("MaxConns = %d, want 3 from the URL", got)
	}
	if _, err := pool.Exec(ctx, "CREATE SCHEMA svc"); err != nil {
		t.Fatal(err)
	}
	// Unqualified names resolve to the service schema first, then public.
	if _, err := pool.Exec(ctx, "CREATE TABLE t (id int)"); err != nil {
		t.Fatal(err)
	}
	var schema string
	if err := pool.QueryRow(ctx, "SELECT table_schema FROM information_schema.tables WHERE table_name = 't'").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	if schema != "svc" {
		t.Errorf("unqualified table created in %q, want svc", schema)
	}
	if _, err := pool.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"); err != nil {
		t.Fatalf("pg_trgm: %v", err)
	}
	var sim float32
	if err := pool.QueryRow(ctx, "SELECT similarity('上海贸易', '上海贸易公司')").Scan(&sim); err != nil {
		t.Fatalf("public functions not on the search path: %v", err)
	}
	if defaults := connect(t, url, "svc"); defaults.Config().MaxConns != max(DefaultMaxConns, int32(runtime.NumCPU())) {
		t.Errorf("default MaxConns = %d, want %d or one per CPU", defaults.Config().MaxConns, DefaultMaxConns)
	}
	var app string
	if err := pool.QueryRow(ctx, "SELECT current_setting('application_name')").Scan(&app); err != nil || app != "svc" {
		t.Errorf("application_name = %q (%v), want the schema's name", app, err)
	}
	named := connect(t, url+"&application_name=svc-import", "svc")
	if err := named.QueryRow(ctx, "SELECT current_setting('application_name')").Scan(&app); err != nil || app != "svc-import" {
		t.Errorf("application_name = %q (%v), want the URL's", app, err)
	}
	var workers string
	if err := pool.QueryRow(ctx, "SHOW max_parallel_workers_per_gather").Scan(&workers); err != nil || workers != DefaultParallelWorkers {
		t.Errorf("max_parallel_workers_per_gather = %q (%v), want %s", workers, err, DefaultParallelWorkers)
	}
	parallel := connect(t, url+"&max_parallel_workers_per_gather=2", "svc")
	if err := parallel.QueryRow(ctx, "SHOW max_parallel_workers_per_gather").Scan(&workers); err != nil || workers != "2" {
		t.Errorf("max_parallel_workers_per_gather = %q (%v), want the URL's 2", workers, err)
	}
	one, err := ConnectOne(ctx, url+"&application_name=svc-import&pool_max_conns=9", "svc", "svc-relay")
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	if err := one.QueryRow(ctx, "SELECT current_setting('application_name')").Scan(&app); err != nil || app != "svc-relay" {
		t.Errorf("ConnectOne: application_name = %q (%v), want its own name", app, err)
	}
	if got := one.Config().MaxConns; got != 1 {
		t.Errorf("ConnectOne: MaxConns = %d, want 1 whatever the URL says", got)
	}
}

func TestConnectUnreachableIsUnavailable(t *testing.T) {
	t.Parallel()
	_, err := Connect(context.Background(), "postgres://postgres@"+closedAddr(t)+"/x?sslmode=disable&connect_timeout=2", "svc")
	if err == nil {
		t.Fatal("Connect succeeded against a closed port")
	}
	if !IsUnavailable(err) {
		t.Fatalf("IsUnavailable(%v) = false", err)
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// items returns a pool on a fresh database with a table items (id int PRIMARY KEY), and a count
// of the rows with a given id.
func items(t *testing.T) (*pgxpool.Pool, func(id int) int) {
	t.Helper()
	pool := connect(t, testkit.NewDatabase(t), "public")
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "CREATE TABLE items (id int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	return pool, func(id int) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM items WHERE id = $1", id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
}

func TestInTx(t *testing.T) {
	t.Parallel()
	pool, count := items(t)
	ctx := context.Background()

	t.Run("commits when fn succeeds", func(t *testing.T) {
		err := InTx(ctx, pool, func(tx pgx.Tx) error {
			var level string
			if err := tx.QueryRow(ctx, "SHOW transaction_isolation").Scan(&level); err != nil {
				return err
			}
			if level != "read committed" {
				return fmt.Errorf("isolation %q", level)
			}
			_, err := tx.Exec(ctx, "INSERT INTO items VALUES (1)")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if count(1) != 1 {
			t.Fatal("row not committed")
		}
	})

	t.Run("rolls back and returns fn's error", func(t *testing.T) {
		errBoom := errors.New("boom")
		err := InTx(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "INSERT INTO items VALUES (2)"); err != nil {
				return err
			}
			return fmt.Errorf("wrapped: %w", errBoom)
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("InTx error = %v, want boom", err)
		}
		if count(2) != 0 {
			t.Fatal("row of a failed transaction was committed")
		}
	})

	t.Run("rolls back on panic", func(t *testing.T) {
		func() {
			defer func() { _ = recover() }()
			_ = InTx(ctx, pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "INSERT INTO items VALUES (3)"); err != nil {
					return err
				}
				panic("handler bug")
			})
		}()
		if count(3) != 0 {
			t.Fatal("row of a panicking transaction was committed")
		}
	})

	t.Run("SQL error inside fn", func(t *testing.T) {
		err := InTx(ctx, pool, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO items VALUES (1)")
			return err
		})
		if c, ok := UniqueViolation(err); !ok || c != "items_pkey" {
			t.Fatalf("UniqueViolation(%v) = %q, %v", err, c, ok)
		}
	})
}

func TestInBatchTx(t *testing.T) {
	t.Parallel()
	pool, count := items(t)
	ctx := context.Background()
	// insert sends BEGIN and the insert of id as one batch and, when commit is set, COMMIT as a
	// second.
	insert := func(conn *pgxpool.Conn, id int, commit bool) error {
		b := TxBatch()
		b.Queue("INSERT INTO items VALUES ($1)", id)
		if err := SendBatch(ctx, conn, b, func(br pgx.BatchResults) error {
			if _, err := br.Exec(); err != nil {
				return err
			}
			_, err := br.Exec()
			return err
		}); err != nil || !commit {
			return err
		}
		return SendCommit(ctx, conn, &pgx.Batch{})
	}
	idle := func() {
		t.Helper()
		if n := pool.Stat().AcquiredConns(); n != 0 {
			t.Fatalf("%d connections still acquired", n)
		}
	}

	t.Run("commits what fn commits", func(t *testing.T) {
		if err := InBatchTx(ctx, pool, func(conn *pgxpool.Conn) error { return insert(conn, 1, true) }); err != nil {
			t.Fatal(err)
		}
		if count(1) != 1 {
			t.Fatal("row not committed")
		}
		idle()
	})

	t.Run("BeginQueryRow reads a row in the transaction's first round trip", func(t *testing.T) {
		var got int
		err := InBatchTx(ctx, pool, func(conn *pgxpool.Conn) error {
			return BeginQueryRow(ctx, conn, "SELECT id FROM items WHERE id = $1 FOR UPDATE", []any{1},
				func(row pgx.Row) error { return row.Scan(&got) })
		})
		if err != nil || got != 1 {
			t.Fatalf("BeginQueryRow = %d, %v; want 1", got, err)
		}
		err = InBatchTx(ctx, pool, func(conn *pgxpool.Conn) error {
			return BeginQueryRow(ctx, conn, "SELECT id FROM items WHERE id = $1 FOR UPDATE", []any{99},
				func(row pgx.Row) error { return row.Scan(&got) })
		})
		if !errors.Is(err, pgx.ErrNoRows) {
			t.Fatalf("BeginQueryRow of a missing row = %v, want pgx.ErrNoRows", err)
		}
		idle()
	})

	t.Run("rolls back when fn returns before COMMIT", func(t *testing.T) {
		errBoom := errors.New("boom")
		opened := pool.Stat().NewConnsCount()
		err := InBatchTx(ctx, pool, func(conn *pgxpool.Conn) error {
			if err := insert(conn, 2, false); err != nil {
				return err
			}
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("InBatchTx error = %v, want boom", err)
		}
		if count(2) != 0 {
			t.Fatal("row of an unfinished transaction was committed")
		}
		// The connection was rolled back and went back to the pool, to serve count above,
		// rather than being closed (which pgxpool does with one released in a transaction).
		if n := pool.Stat().NewConnsCount() - opened; n != 0 {
			t.Fatalf("%d new connections opened, want the rolled-back one reused", n)
		}
		idle()
	})

	t.Run("rolls back on panic", func(t *testing.T) {
		func() {
			defer func() { _ = recover() }()
			_ = InBatchTx(ctx, pool, func(conn *pgxpool.Conn) error {
				if err := insert(conn, 3, false); err != nil {
					return err
				}
				panic("handler bug")
			})
		}()
		if count(3) != 0 {
			t.Fatal("row of a panicking transaction was committed")
		}
		idle()
	})

	t.Run("a failed statement skips the rest of its batch", func(t *testing.T) {
		err := InBatchTx(ctx, pool, func(conn *pgxpool.Conn) error {
			b := TxBatch()
			b.Queue("INSERT INTO items VALUES (4)")
			b.Queue("INSERT INTO items VALUES (1)") // taken
			return SendCommit(ctx, conn, b, "begin", "insert 4", "insert 1")
		})
		if c, ok := UniqueViolation(err); !ok || c != "items_pkey" {
			t.Fatalf("UniqueViolation(%v) = %q, %v", err, c, ok)
		}
		if !strings.HasPrefix(err.Error(), "insert 1: ") {
			t.Fatalf("error %q does not name the failed step", err)
		}
		if count(4) != 0 {
			t.Fatal("row of a failed batch was committed")
		}
		idle()
	})

	t.Run("ReadCommit reports a COMMIT that rolled back", func(t *testing.T) {
		err := InBatchTx(ctx, pool, func(conn *pgxpool.Conn) error {
			if err := insert(conn, 5, false); err != nil {
				return err
			}
			// An error in its own round trip leaves the transaction aborted; COMMIT then answers
			// ROLLBACK without an error.
			if _, err := conn.Exec(ctx, "SELECT 1/0"); err == nil {
				return errors.New("division by zero succeeded")
			}
			b := &pgx.Batch{}
			b.Queue("COMMIT")
			return SendBatch(ctx, conn, b, ReadCommit)
		})
		if !errors.Is(err, pgx.ErrTxCommitRollback) {
			t.Fatalf("InBatchTx error = %v, want ErrTxCommitRollback", err)
		}
		if count(5) != 0 {
			t.Fatal("row of an aborted transaction was committed")
		}
		idle()
	})
}

func TestUniqueViolation(t *testing.T) {
	t.Parallel()
	pool := connect(t, testkit.NewDatabase(t), "public")
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE c (id int PRIMARY KEY, name text,
		CONSTRAINT c_name_key UNIQUE (name), CONSTRAINT c_id_positive CHECK (id > 0))`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "INSERT INTO c VALUES (1, 'a')"); err != nil {
		t.Fatal(err)
	}
	_, dupName := pool.Exec(ctx, "INSERT INTO c VALUES (2, 'a')")
	_, dupID := pool.Exec(ctx, "INSERT INTO c VALUES (1, 'b')")
	_, check := pool.Exec(ctx, "INSERT INTO c VALUES (-1, 'c')")

	tests := []struct {
		name       string
		err        error
		wantOK     bool
		constraint string
	}{
		{"unique constraint", dupName, true, "c_name_key"},
		{"primary key", dupID, true, "c_pkey"},
		{"wrapped", fmt.Errorf("store: create: %w", dupName), true, "c_name_key"},
		{"check violation", check, false, ""},
		{"nil", nil, false, ""},
		{"plain error", errors.New("23505"), false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := UniqueViolation(tc.err)
			if ok != tc.wantOK || c != tc.constraint {
				t.Fatalf("UniqueViolation(%v) = %q, %v; want %q, %v", tc.err, c, ok, tc.constraint, tc.wantOK)
			}
		})
	}
}

func TestIsUnavailableClassifies(t *testing.T) {
	t.Parallel()
	pg := func(code string) error { return fmt.Errorf("query: %w", &pgconn.PgError{Code: code}) }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"connection failure 08006", pg("08006"), true},
		{"connection does not exist 08003", pg("08003"), true},
		{"admin shutdown 57P01", pg("57P01"), true},
		{"crash shutdown 57P02", pg("57P02"), true},
		{"cannot connect now 57P03", pg("57P03"), true},
		{"too many connections 53300", pg("53300"), true},
		{"query canceled 57014", pg("57014"), false},
		{"unique violation", pg("23505"), false},
		{"syntax error", pg("42601"), false},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"net error", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}, true},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), false},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), false},
		{"no rows", pgx.ErrNoRows, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := IsUnavailable(tc.err); got != tc.want {
				t.Fatalf("IsUnavailable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestIsUnavailableWhenBackendTerminated(t *testing.T) {
	t.Parallel()
	url := testkit.NewDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var pid uint32
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	admin := connect(t, url, "public")
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	var one int
	err = conn.QueryRow(ctx, "SELECT 1").Scan(&one)
	if err == nil {
		t.Fatal("query on a terminated backend succeeded")
	}
	if !IsUnavailable(err) {
		t.Fatalf("IsUnavailable(%v [%T]) = false", err, err)
	}
}
