package pgdb

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Migrate brings schema up to date with the *.sql files at the root of fsys, applied in lexical
// order of their names. It creates the schema if missing and records each applied file as
// (set, name, applied_at) in <schema>.schema_migrations; set tells apart the migration sets of
// different packages that share a schema ("customer", "outbox", "ids"), so each set's files
// are tracked separately and may reuse names.
//
// Each file runs in its own transaction with search_path set to <schema>, public, so a file that
// fails leaves nothing of itself applied, and the error names the file. Files therefore must not
// contain BEGIN/COMMIT or statements that cannot run in a transaction (CREATE INDEX CONCURRENTLY).
// Files already applied are never re-run or compared: change the schema with a new file.
//
// The whole run holds a session advisory lock derived from the schema name, so replicas starting
// at once apply each file exactly once: the others wait, then find nothing left to do.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema, set string, fsys fs.FS) (err error) {
	if err := ValidSchema(schema); err != nil {
		return err
	}
	if set == "" {
		return errors.New("pgdb: migrate: empty migration set name")
	}
	files, err := migrationFiles(fsys)
	if err != nil {
		return fmt.Errorf("pgdb: migrate %s: %w", set, err)
	}

	// Session advisory locks belong to a connection, so lock, work and unlock on one connection.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pgdb: migrate %s: acquire connection: %w", set, err)
	}
	defer conn.Release()
	key := advisoryKey(schema)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return fmt.Errorf("pgdb: migrate %s: advisory lock: %w", set, err)
	}
	defer func() {
		// Unlock even when ctx is done. If that fails the lock would outlive us on a pooled
		// connection, so close the connection: the server then drops the lock with the session.
		unlockCtx := context.WithoutCancel(ctx)
		if _, uerr := conn.Exec(unlockCtx, "SELECT pg_advisory_unlock($1)", key); uerr != nil {
			_ = conn.Conn().Close(unlockCtx)
			if err == nil {
				err = fmt.Errorf("pgdb: migrate %s: advisory unlock: %w", set, uerr)
			}
		}
	}()

	quoted := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+quoted); err != nil {
		return fmt.Errorf("pgdb: migrate %s: create schema: %w", set, err)
	}
	table := pgx.Identifier{schema, "schema_migrations"}.Sanitize()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (
		set        text        NOT NULL,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now(),
		PRIMARY KEY (set, name)
	)`); err != nil {
		return fmt.Errorf("pgdb: migrate %s: create schema_migrations: %w", set, err)
	}

	applied, err := appliedMigrations(ctx, conn.Conn(), table, set)
	if err != nil {
		return fmt.Errorf("pgdb: migrate %s: %w", set, err)
	}
	for _, name := range files {
		if applied[name] {
			continue
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("pgdb: migrate %s/%s: %w", set, name, err)
		}
		if err := applyMigration(ctx, conn.Conn(), quoted, table, set, name, string(body)); err != nil {
			return fmt.Errorf("pgdb: migrate %s/%s: %w", set, name, err)
		}
	}
	return nil
}

// migrationFiles lists the regular *.sql files at the root of fsys, sorted by name.
func migrationFiles(fsys fs.FS) ([]string, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var names []string
	for _, e := range entries { // fs.ReadDir sorts by name
		if e.Type().IsRegular() && path.Ext(e.Name()) == ".sql" {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

func appliedMigrations(ctx context.Context, conn *pgx.Conn, table, set string) (map[string]bool, error) {
	rows, err := conn.Query(ctx, "SELECT name FROM "+table+" WHERE set = $1", set)
	if err != nil {
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	applied := make(map[string]bool, len(names))
	for _, n := range names {
		applied[n] = true
	}
	return applied, nil
}

// applyMigration runs one file and records it, both or neither.
func applyMigration(ctx context.Context, conn *pgx.Conn, quotedSchema, table, set, name, body string) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// SET LOCAL ends with the transaction, so the pooled connection keeps its usual search_path.
	if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+quotedSchema+", public"); err != nil {
		return fmt.Errorf("set search_path: %w", err)
	}
	if strings.TrimSpace(body) != "" {
		// No arguments: pgx uses the simple protocol, which runs several statements at once.
		if _, err := tx.Exec(ctx, body); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+table+" (set, name) VALUES ($1, $2)", set, name); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// advisoryKey derives the lock key from the schema, so services migrating different schemas of one
// database do not wait for each other.
func advisoryKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("crm/pgdb.Migrate:" + schema))
	return int64(h.Sum64())
}
