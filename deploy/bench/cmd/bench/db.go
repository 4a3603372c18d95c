package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmsuite/crm/deploy/bench/internal/seed"
	"github.com/crmsuite/crm/deploy/bench/internal/suite"
)

// prepareDatabase makes sure the seeded template exists and is current, then copies it into a
// fresh benchmark database.
func (h *harness) prepareDatabase(ctx context.Context) error {
	admin, err := pgx.Connect(ctx, h.adminURL.String())
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer admin.Close(ctx)
	sizes := seed.Sizes{Customers: h.o.customers, Needs: h.o.needs, FollowUps: h.o.followups}

	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, templateDB).Scan(&exists); err != nil {
		return err
	}
	current := false
	if exists && !h.o.reseed {
		if conn, err := pgx.Connect(ctx, h.dbURL(templateDB)); err == nil {
			h.layout, current = seed.Seeded(ctx, conn, sizes)
			_ = conn.Close(ctx)
		}
	}
	if current {
		h.log.Info("using the seeded template", "database", templateDB, "customers", h.layout.Customers)
		// Migrations added since the template was seeded go into the template once, not into
		// every copy (a migration that rewrites a million rows takes a while).
		if err := h.migrateTemplate(ctx); err != nil {
			return err
		}
	} else {
		if err := h.seedTemplate(ctx, admin, sizes); err != nil {
			return err
		}
	}

	start := time.Now()
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+benchDB+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop %s: %w", benchDB, err)
	}
	// FILE_COPY copies the template's files after a checkpoint instead of writing every page to
	// the WAL: seconds instead of minutes for a database of this size.
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+benchDB+" TEMPLATE "+templateDB+" STRATEGY FILE_COPY"); err != nil {
		return fmt.Errorf("copy %s into %s: %w", templateDB, benchDB, err)
	}
	// The copy's pages are new to the server: a checkpoint now keeps the first one out of the runs.
	if _, err := admin.Exec(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	h.log.Info("benchmark database ready", "database", benchDB, "took", time.Since(start).Round(time.Second))
	return nil
}

// seedTemplate creates the template database, lets every service apply its migrations to it and
// loads the data set.
func (h *harness) seedTemplate(ctx context.Context, admin *pgx.Conn, sizes seed.Sizes) error {
	h.log.Info("seeding the template database (once; later runs reuse it)", "database", templateDB,
		"customers", sizes.Customers, "needs", sizes.Needs, "followups", sizes.FollowUps)
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+templateDB+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop %s: %w", templateDB, err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+templateDB); err != nil {
		return fmt.Errorf("create %s: %w", templateDB, err)
	}
	url := h.dbURL(templateDB)
	if err := h.migrate(ctx, url); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	h.layout = seed.NewLayout(sizes.Customers, time.Now())
	return seed.Load(ctx, pool, h.layout, sizes, h.log)
}

// migrate lets every service apply its migrations to the database at url (`<service> migrate`).
func (h *harness) migrate(ctx context.Context, url string) error {
	for _, name := range suite.Services {
		cmd := exec.CommandContext(ctx, filepath.Join(h.binDir, name), "migrate")
		cmd.Env = append(os.Environ(), "DATABASE_URL="+url, "AUTH_HS256_SECRET="+secret, "LOG_LEVEL=warn")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s migrate: %w: %s", name, err, out)
		}
	}
	return nil
}

// migrateTemplate applies new migrations to the seeded template and, when there were any,
// vacuums and analyses it again, as the seeder does.
func (h *harness) migrateTemplate(ctx context.Context) error {
	url := h.dbURL(templateDB)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	count := func() (int, error) {
		total := 0
		for _, schema := range suite.Services {
			var n int
			if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema, "schema_migrations"}.Sanitize()).Scan(&n); err != nil {
				return 0, err
			}
			total += n
		}
		return total, nil
	}
	before, err := count()
	if err != nil {
		return fmt.Errorf("template migrations: %w", err)
	}
	if err := h.migrate(ctx, url); err != nil {
		return err
	}
	after, err := count()
	if err != nil {
		return fmt.Errorf("template migrations: %w", err)
	}
	if after == before {
		return nil
	}
	h.log.Info("applied new migrations to the template; vacuuming it", "migrations", after-before)
	for _, t := range []string{"customer.customers", "needs.needs", "followup.followups"} {
		if _, err := conn.Exec(ctx, "VACUUM (FREEZE, ANALYZE) "+t); err != nil {
			return fmt.Errorf("vacuum %s: %w", t, err)
		}
	}
	return nil
}
