package testkit

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// TableReads is what PostgreSQL's statistics have recorded of the reads of one table.
type TableReads struct {
	SeqScans int64 // sequential scans
	Rows     int64 // rows read by sequential scans or fetched through an index
}

// ReadsOf returns the reads of table (a name pool's search path finds) recorded so far. It first
// flushes the statistics of the backend it runs on, so the figures are current only for a pool of
// one connection: other backends flush on their own schedule, about once a second.
func ReadsOf(tb testing.TB, pool *pgxpool.Pool, table string) TableReads {
	tb.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `SELECT pg_stat_force_next_flush()`); err != nil {
		tb.Fatal(err)
	}
	var r TableReads
	if err := pool.QueryRow(ctx, `SELECT seq_scan, seq_tup_read + coalesce(idx_tup_fetch, 0)
		FROM pg_stat_user_tables WHERE relid = $1::regclass`, table).Scan(&r.SeqScans, &r.Rows); err != nil {
		tb.Fatal(err)
	}
	return r
}
