// Package seed builds the benchmark's data set: a million customers (realistic Chinese company
// and person names, mobiles, provinces and cities, owners in teams), the customer_refs
// projection rows the other services join on, and some needs and follow-ups, written straight
// into the services' tables with COPY.
//
// Why not through the API: a create through the customer service costs a transaction, an outbox
// event, a NATS publish, an audit append and four projection upserts; a million of them at the
// rate this machine sustains would take hours, and would measure the seeding rather than the
// scenarios. COPY into tables whose secondary indexes are dropped first and built afterwards takes
// minutes. The price is that the seeded rows have no events and no audit records; the scenarios
// only need the rows to exist, and the projections are written as the events would have left them.
//
// Every value is a function of the row number (data.go), so the same rows come out every time and
// the load scenarios can address them. It imports pgx and pkg/validate only.
package seed

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"
)

// Version names the data set; a template database seeded by another version is rebuilt.
const Version = "v1"

// Sizes is how many rows of each table to write.
type Sizes struct {
	Customers, Needs, FollowUps int
}

// RefSchemas are the services that keep a customer_refs projection.
var RefSchemas = []string{"followup", "needs", "tagging", "feedback"}

// Load writes the data set into the database of pool, whose migrations must have been applied,
// and records it in public.bench_seed last, so that an interrupted load is recognised (no row).
func Load(ctx context.Context, pool *pgxpool.Pool, l Layout, n Sizes, log *slog.Logger) error {
	start := time.Now()
	if err := loadTable(ctx, pool, "customer", "customers", customerColumns, n.Customers, func(i int) []any {
		return customerValues(l.CustomerRow(i))
	}, log); err != nil {
		return err
	}
	for _, schema := range RefSchemas {
		if err := loadTable(ctx, pool, schema, "customer_refs",
			[]string{"customer_id", "owner_id", "team_id", "deleted", "merged_into", "version", "updated_at"},
			n.Customers, func(i int) []any {
				owner, team := Owner(i)
				return []any{l.CustomerID(i), owner, team, Deleted(i), "", int64(1 + pick(i, 33, 3)), l.FirstDay}
			}, log); err != nil {
			return err
		}
	}
	if err := loadTable(ctx, pool, "needs", "needs", needColumns, n.Needs, func(j int) []any {
		return needValues(l.NeedRow(j, n.Needs))
	}, log); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `INSERT INTO needs.need_stage_changes (need_id, from_stage, to_stage, changed_at, changed_by)
		SELECT id, '', stage, created_at, created_by FROM needs.needs`); err != nil {
		return fmt.Errorf("seed stage changes: %w", err)
	}
	if err := loadTable(ctx, pool, "followup", "followups", followUpColumns, n.FollowUps, func(j int) []any {
		return followUpValues(l.FollowUpRow(j, n.FollowUps))
	}, log); err != nil {
		return err
	}
	log.Info("seed: vacuum and analyze")
	for _, t := range []string{"customer.customers", "needs.needs", "needs.need_stage_changes", "followup.followups",
		"followup.customer_refs", "needs.customer_refs", "tagging.customer_refs", "feedback.customer_refs"} {
		// FREEZE sets hint bits and the visibility map now, so that the first run after seeding does
		// not pay for them (and index-only scans work).
		if _, err := pool.Exec(ctx, "VACUUM (FREEZE, ANALYZE) "+t); err != nil {
			return fmt.Errorf("vacuum %s: %w", t, err)
		}
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS public.bench_seed (
		version text NOT NULL, customers int NOT NULL, needs int NOT NULL, followups int NOT NULL,
		first_day date NOT NULL, per_day int NOT NULL, seeded_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("seed marker: %w", err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO public.bench_seed (version, customers, needs, followups, first_day, per_day)
		VALUES ($1, $2, $3, $4, $5, $6)`, Version, n.Customers, n.Needs, n.FollowUps, l.FirstDay, l.PerDay); err != nil {
		return fmt.Errorf("seed marker: %w", err)
	}
	log.Info("seed: done", "took", time.Since(start).Round(time.Second))
	return nil
}

// Seeded reads the marker of a seeded database: its layout, or ok false when it is not (fully)
// seeded by this Version with these sizes.
func Seeded(ctx context.Context, conn *pgx.Conn, n Sizes) (Layout, bool) {
	var l Layout
	var version string
	var needs, followups int
	err := conn.QueryRow(ctx, `SELECT version, customers, needs, followups, first_day, per_day FROM public.bench_seed`).
		Scan(&version, &l.Customers, &needs, &followups, &l.FirstDay, &l.PerDay)
	if err != nil || version != Version || l.Customers != n.Customers || needs != n.Needs || followups != n.FollowUps {
		return Layout{}, false
	}
	return l, true
}

// loadTable drops the table's secondary indexes, COPYs rows 0…n-1 from row in two parallel
// streams, and builds the indexes again (two at a time, with a generous maintenance_work_mem).
func loadTable(ctx context.Context, pool *pgxpool.Pool, schema, table string, cols []string, n int,
	row func(int) []any, log *slog.Logger) error {
	start := time.Now()
	name := pgx.Identifier{schema, table}
	indexes, err := secondaryIndexes(ctx, pool, schema, table)
	if err != nil {
		return err
	}
	for _, ix := range indexes {
		if _, err := pool.Exec(ctx, "DROP INDEX "+pgx.Identifier{schema, ix.name}.Sanitize()); err != nil {
			return fmt.Errorf("drop index %s: %w", ix.name, err)
		}
	}
	const streams = 2
	g, gctx := errgroup.WithContext(ctx)
	for s := range streams {
		from, to := n*s/streams, n*(s+1)/streams
		g.Go(func() error {
			next := from
			_, err := pool.CopyFrom(gctx, name, cols, pgx.CopyFromFunc(func() ([]any, error) {
				if next >= to {
					return nil, nil
				}
				next++
				return row(next - 1), nil
			}))
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("copy into %s.%s: %w", schema, table, err)
	}
	copied := time.Since(start)
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(2)
	for _, ix := range indexes {
		g.Go(func() error {
			conn, err := pool.Acquire(gctx)
			if err != nil {
				return err
			}
			defer conn.Release()
			if _, err := conn.Exec(gctx, "SET maintenance_work_mem = '512MB'"); err != nil {
				return err
			}
			if _, err := conn.Exec(gctx, ix.def); err != nil {
				return fmt.Errorf("build index %s: %w", ix.name, err)
			}
			_, err = conn.Exec(gctx, "RESET maintenance_work_mem")
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	log.Info("seed: table loaded", "table", schema+"."+table, "rows", n, "copy", copied.Round(time.Second),
		"indexes", len(indexes), "took", time.Since(start).Round(time.Second))
	return nil
}

type index struct{ name, def string }

// secondaryIndexes lists a table's indexes that back no constraint (primary keys and unique
// constraints stay, so COPY still refuses duplicates).
func secondaryIndexes(ctx context.Context, pool *pgxpool.Pool, schema, table string) ([]index, error) {
	rows, err := pool.Query(ctx, `SELECT i.indexname, i.indexdef FROM pg_indexes i
		WHERE i.schemaname = $1 AND i.tablename = $2
		  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname
		                  AND c.connamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1))
		ORDER BY i.indexname`, schema, table)
	if err != nil {
		return nil, fmt.Errorf("list indexes of %s.%s: %w", schema, table, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (index, error) {
		var ix index
		err := r.Scan(&ix.name, &ix.def)
		return ix, err
	})
}

// CustomerColumns are the columns of customer.customers that CustomerValues fills, in its order.
func CustomerColumns() []string { return slices.Clone(customerColumns) }

// CustomerValues are the column values of c in the order of CustomerColumns, for COPY.
func CustomerValues(c Customer) []any { return customerValues(c) }

var customerColumns = strings.Fields(`id name name_key type industry uscc contact_name contact_title mobile
	landline email province city district street scale status source first_contact_date owner_id team_id
	amount_fen remarks status_changed_at status_changed_by created_at created_by updated_at updated_by
	deleted_at deleted_by delete_reason version`)

func customerValues(c Customer) []any {
	deletedBy, reason := "", ""
	if c.DeletedAt != nil {
		deletedBy, reason = "u-admin", "重复录入"
	}
	var fc any
	if c.FirstContact != nil {
		fc = *c.FirstContact
	}
	return []any{c.ID, c.Name, c.NameKey, c.Type, c.Industry, c.USCC, c.ContactName, c.ContactTitle, c.Mobile,
		c.Landline, c.Email, c.Province, c.City, c.District, c.Street, c.Scale, c.Status, c.Source, fc,
		c.OwnerID, c.TeamID, c.AmountFen, c.Remarks, c.CreatedAt, c.OwnerID, c.CreatedAt, c.OwnerID,
		c.UpdatedAt, c.OwnerID, c.DeletedAt, deletedBy, reason, c.Version}
}

var needColumns = strings.Fields(`id customer_id title type expected_close_date expected_amount_fen stage
	lost_reason owner_id stage_changed_at stage_changed_by created_at created_by updated_at updated_by version`)

func needValues(n Need) []any {
	var cd any
	if n.CloseDate != nil {
		cd = *n.CloseDate
	}
	return []any{n.ID, n.CustomerID, n.Title, n.Type, cd, n.AmountFen, n.Stage, n.LostReason, n.OwnerID,
		n.CreatedAt, n.OwnerID, n.CreatedAt, n.OwnerID, n.CreatedAt, n.OwnerID, int64(1)}
}

var followUpColumns = strings.Fields(`id customer_id contact_name method contact_time kind content next_action
	next_action_due owner_id done done_at done_by created_at created_by updated_at updated_by version`)

func followUpValues(f FollowUp) []any {
	var due, doneAt any
	doneBy := ""
	if f.NextDue != nil {
		due = *f.NextDue
	}
	if f.Done {
		doneAt, doneBy = f.ContactTime.Add(72*time.Hour), f.OwnerID
	}
	return []any{f.ID, f.CustomerID, f.ContactName, f.Method, f.ContactTime, f.Kind, f.Content, f.NextAction,
		due, f.OwnerID, f.Done, doneAt, doneBy, f.ContactTime, f.OwnerID, f.ContactTime, f.OwnerID, int64(1)}
}
