// Package testkit gives tests real infrastructure: a fresh PostgreSQL database per test (or per
// package, from TestMain) and an embedded NATS server with JetStream.
//
// It imports "testing" and the whole nats-server, so it must only be imported from _test.go files;
// production packages must not import it. It must not import other packages of this repository, so
// every package can use it in its tests.
package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// defaultAdminURL is the trust-auth PostgreSQL that deploy/local/ensure-postgres.sh finds or the
// developer runs; CRM_TEST_DATABASE_URL overrides it.
const defaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// adminTimeout bounds each CREATE/DROP DATABASE round, so a hung server fails the test instead of
// hanging it until the go test deadline.
const adminTimeout = 30 * time.Second

// AdminURL returns the URL of a PostgreSQL role allowed to create databases:
// CRM_TEST_DATABASE_URL when set, else postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
func AdminURL() string {
	if v := os.Getenv("CRM_TEST_DATABASE_URL"); v != "" {
		return v
	}
	return defaultAdminURL
}

// NewDatabase creates an empty database with a unique name (crmtest_<package>_<random>) and
// returns its URL. The database is dropped, with any connections still open to it, when the test
// and its subtests finish. The test fails at once, saying how to get a server, when PostgreSQL
// does not answer.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	dbURL, name, err := createDatabase(ctx, callerPackage())
	if err != nil {
		tb.Fatalf("testkit: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		if err := dropDatabase(ctx, name); err != nil {
			tb.Errorf("testkit: %v", err)
		}
	})
	return dbURL
}

// CreateDatabase is NewDatabase for TestMain, where there is no testing.TB: it returns the new
// database's URL and a func that drops it (reporting a failure on stderr).
func CreateDatabase(ctx context.Context) (dbURL string, drop func(), err error) {
	dbURL, name, err := createDatabase(ctx, callerPackage())
	if err != nil {
		return "", nil, fmt.Errorf("testkit: %w", err)
	}
	drop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		if err := dropDatabase(ctx, name); err != nil {
			fmt.Fprintf(os.Stderr, "testkit: %v\n", err)
		}
	}
	return dbURL, drop, nil
}

// createDatabase creates crmtest_<pkg>_<random> and returns its URL and name.
func createDatabase(ctx context.Context, pkg string) (dbURL, name string, err error) {
	admin := AdminURL()
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", "", fmt.Errorf("admin URL must be a postgres:// URL (set CRM_TEST_DATABASE_URL)")
	}
	name, err = databaseName(pkg)
	if err != nil {
		return "", "", err
	}
	conn, err := connectAdmin(ctx)
	if err != nil {
		return "", "", err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// CREATE DATABASE takes no parameters; the name is generated here and quoted anyway.
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", "", fmt.Errorf("create database %s: %w", name, err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), name, nil
}

// dropDatabase drops the database, ending the sessions still connected to it (PostgreSQL 13+).
func dropDatabase(ctx context.Context, name string) error {
	conn, err := connectAdmin(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

func connectAdmin(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL does not answer at %s (start one with deploy/local/ensure-postgres.sh "+
			"and set CRM_TEST_DATABASE_URL to the URL it prints): %w", redact(AdminURL()), err)
	}
	return conn, nil
}

// redact hides a password in the admin URL before it goes into a test log.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// databaseName builds crmtest_<pkg>_<16 hex chars>, at most 63 bytes, lower-case [a-z0-9_].
func databaseName(pkg string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random database name: %w", err)
	}
	var clean strings.Builder
	for _, r := range strings.ToLower(pkg) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			clean.WriteRune(r)
		case clean.Len() > 0 && !strings.HasSuffix(clean.String(), "_"):
			clean.WriteByte('_')
		}
		if clean.Len() >= 24 {
			break
		}
	}
	p := strings.Trim(clean.String(), "_")
	if p == "" {
		p = "x"
	}
	return "crmtest_" + p + "_" + hex.EncodeToString(b[:]), nil
}

// callerPackage names the directory of the code that called the exported testkit function that
// called callerPackage, a good enough stand-in for its package that tells whose leftover
// databases are whose.
func callerPackage() string {
	// 0 is callerPackage, 1 the exported function, 2 its caller.
	if _, file, _, ok := runtime.Caller(2); ok {
		return filepath.Base(filepath.Dir(file))
	}
	return "x"
}
