package pgdb

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmsuite/crm/pkg/testkit"
)

func appliedNames(t *testing.T, pool *pgxpool.Pool, schema, set string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(),
		"SELECT name FROM "+schema+".schema_migrations WHERE set = $1 ORDER BY applied_at, name", set)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

func tableExists(t *testing.T, pool *pgxpool.Pool, schema, table string) bool {
	t.Helper()
	var ok bool
	err := pool.QueryRow(context.Background(),
		"SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2)",
		schema, table).Scan(&ok)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestMigrateAppliesInOrderOnce(t *testing.T) {
	t.Parallel()
	url := testkit.NewDatabase(t)
	pool := connect(t, url, "public") // a pool on another schema: Migrate must not rely on it
	ctx := context.Background()
	fsys := fstest.MapFS{
		// 002 depends on 001, so lexical order matters; 010 sorts after 002.
		"002_insert.sql": {Data: []byte("INSERT INTO a (id) VALUES (1);\nINSERT INTO a (id) VALUES (2);")},
		"001_create.sql": {Data: []byte("CREATE TABLE a (id int PRIMARY KEY);")},
		"010_alter.sql":  {Data: []byte("ALTER TABLE a ADD COLUMN note text;")},
		"README.md":      {Data: []byte("not SQL")},
		"sub/999.sql":    {Data: []byte("this is not valid SQL and must be ignored")},
	}
	for range 2 { // the second run finds everything applied and does nothing
		if err := Migrate(ctx, pool, "svc", "core", fsys); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
	}
	if got, want := strings.Join(appliedNames(t, pool, "svc", "core"), ","), "001_create.sql,002_insert.sql,010_alter.sql"; got != want {
		t.Fatalf("applied = %s, want %s", got, want)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(note IS NULL) FROM svc.a").Scan(&n); err != nil || n != 2 {
		t.Fatalf("svc.a rows = %d, %v; want 2 (table created in the schema, inserts run once)", n, err)
	}
	if tableExists(t, pool, "public", "a") {
		t.Fatal("migration created its table in public")
	}

	// A later file is applied on the next run; earlier ones are not re-run.
	fsys["011_more.sql"] = &fstest.MapFile{Data: []byte("INSERT INTO a (id) VALUES (3);")}
	if err := Migrate(ctx, pool, "svc", "core", fsys); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM svc.a").Scan(&n); err != nil || n != 3 {
		t.Fatalf("svc.a rows = %d, %v; want 3", n, err)
	}
}

func TestMigrateSetsAreSeparate(t *testing.T) {
	t.Parallel()
	pool := connect(t, testkit.NewDatabase(t), "svc")
	ctx := context.Background()
	first := fstest.MapFS{"001_init.sql": {Data: []byte("CREATE TABLE customers (id int);")}}
	second := fstest.MapFS{"001_init.sql": {Data: []byte("CREATE TABLE outbox (id int);")}}
	if err := Migrate(ctx, pool, "svc", "customer", first); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, pool, "svc", "outbox", second); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"customers", "outbox"} {
		if !tableExists(t, pool, "svc", table) {
			t.Errorf("table %s missing: a file name shared by two sets was skipped", table)
		}
	}
}

func TestMigrateFailingFileLeavesNothing(t *testing.T) {
	t.Parallel()
	pool := connect(t, testkit.NewDatabase(t), "public")
	ctx := context.Background()
	fsys := fstest.MapFS{
		"001_ok.sql":     {Data: []byte("CREATE TABLE ok (id int);")},
		"002_broken.sql": {Data: []byte("CREATE TABLE half (id int);\nINSERT INTO missing_table VALUES (1);")},
		"003_later.sql":  {Data: []byte("CREATE TABLE later (id int);")},
	}
	err := Migrate(ctx, pool, "svc", "core", fsys)
	if err == nil {
		t.Fatal("Migrate succeeded with a broken file")
	}
	if !strings.Contains(err.Error(), "002_broken.sql") {
		t.Errorf("error does not name the file: %v", err)
	}
	if !tableExists(t, pool, "svc", "ok") {
		t.Error("the file before the broken one was not kept")
	}
	if tableExists(t, pool, "svc", "half") {
		t.Error("part of the broken file was applied")
	}
	if tableExists(t, pool, "svc", "later") {
		t.Error("a file after the broken one was applied")
	}
	if got := strings.Join(appliedNames(t, pool, "svc", "core"), ","); got != "001_ok.sql" {
		t.Errorf("applied = %s, want 001_ok.sql", got)
	}

	// Fixed file: the next run picks up where it stopped, and releases its lock.
	fsys["002_broken.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE half (id int);")}
	if err := Migrate(ctx, pool, "svc", "core", fsys); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(appliedNames(t, pool, "svc", "core"), ","); got != "001_ok.sql,002_broken.sql,003_later.sql" {
		t.Errorf("applied = %s", got)
	}
	var locks int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())").Scan(&locks); err != nil {
		t.Fatal(err)
	}
	if locks != 0 {
		t.Errorf("%d advisory locks still held after Migrate", locks)
	}
}

func TestMigrateRejectsBadArguments(t *testing.T) {
	t.Parallel()
	pool := connect(t, testkit.NewDatabase(t), "public")
	ctx := context.Background()
	fsys := fstest.MapFS{"001.sql": {Data: []byte("SELECT 1;")}}
	if err := Migrate(ctx, pool, `svc"; DROP SCHEMA public; --`, "core", fsys); err == nil {
		t.Error("Migrate accepted an invalid schema name")
	}
	if err := Migrate(ctx, pool, "svc", "", fsys); err == nil {
		t.Error("Migrate accepted an empty set name")
	}
}

// Replicas starting at once: each with its own pool, all migrating the same schema. Every file
// must run exactly once; without the lock, CREATE TABLE races and the INSERT runs several times.
func TestMigrateConcurrentReplicas(t *testing.T) {
	t.Parallel()
	url := testkit.NewDatabase(t)
	ctx := context.Background()
	fsys := fstest.MapFS{
		"001_create.sql": {Data: []byte("CREATE TABLE runs (n int); SELECT pg_sleep(0.05);")},
		"002_insert.sql": {Data: []byte("INSERT INTO runs VALUES (1);")},
	}
	const replicas = 6
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i := range replicas {
		pool := connect(t, url, "svc")
		wg.Go(func() { errs[i] = Migrate(ctx, pool, "svc", "core", fsys) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	pool := connect(t, url, "svc")
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM runs").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("002_insert.sql ran %d times, want once", n)
	}
}
