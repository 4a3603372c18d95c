// Package ids hands out human-readable daily serial identifiers such as CUST-20261123-0001 and
// F20261123001: a prefix, the calendar day in China (Asia/Shanghai) and a serial that starts at 1
// each day and widens instead of wrapping.
//
// A single counter row updated per id would serialise every create in the system, so each process
// reserves a block of serials at a time in the id_blocks table (Migrations, applied to the
// service's own schema) and hands them out from memory. Serials are never handed out twice, across
// processes and restarts; serials reserved by a process that stops are skipped, leaving gaps.
// Ids are therefore unique and roughly, not strictly, ordered by creation.
//
// It imports pgx only; it must not import service code.
package ids

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sync"
	"time"
	_ "time/tzdata" // the day is China's calendar day, also on hosts without a zoneinfo database

	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations holds the SQL that creates id_blocks, rooted at the files themselves, for
// pgdb.Migrate(ctx, pool, schema, "ids", ids.Migrations).
var Migrations fs.FS = mustSub(migrationFiles, "migrations")

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		// fs.Sub fails only for an invalid path, and "migrations" is a valid constant; keep
		// the embedded FS rather than panic.
		return fsys
	}
	return sub
}

// DefaultBlockSize is used when NewAllocator is given a block size below 1. At 100 the counter
// row is written once per hundred creates, and a restart wastes at most 99 serials per prefix.
const DefaultBlockSize = 100

// china is the zone whose calendar day starts a new series. China has had no daylight saving time
// since 1991, so the fixed +08:00 fallback is exact for every date this system will see.
var china = loadChina()

func loadChina() *time.Location {
	if loc, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return loc
	}
	return time.FixedZone("CST", 8*60*60)
}

// Allocator hands out serial ids for one prefix. It is safe for concurrent use; create one per
// prefix per process and share it.
type Allocator struct {
	pool      *pgxpool.Pool
	prefix    string
	format    func(day time.Time, serial int64) string
	blockSize int64

	mu   sync.Mutex
	now  func() time.Time
	day  time.Time // midnight in China of the day the current block belongs to; zero before the first
	next int64     // next serial to hand out
	end  int64     // first serial past the current block
}

// NewAllocator returns an allocator for prefix (the key in id_blocks, e.g. "CUST") that formats
// ids with format and reserves blockSize serials per database round trip (DefaultBlockSize when
// blockSize < 1). The pool's search_path must lead to the schema holding id_blocks.
func NewAllocator(pool *pgxpool.Pool, prefix string, format func(day time.Time, serial int64) string, blockSize int) *Allocator {
	if blockSize < 1 {
		blockSize = DefaultBlockSize
	}
	return &Allocator{
		pool:      pool,
		prefix:    prefix,
		format:    format,
		blockSize: int64(blockSize),
		now:       time.Now,
	}
}

// SetClock replaces time.Now for tests, e.g. to cross midnight.
func (a *Allocator) SetClock(now func() time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.now = now
}

// Next returns the next id for today (China's calendar day). It touches the database only when the
// current block is used up or the day has changed, and then on the pool in its own autocommit
// statement, never in the caller's transaction: a rolled-back business transaction must not hand
// the same block out again, and the counter row must not stay locked for the length of it.
func (a *Allocator) Next(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.now().In(china)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, china)
	if !day.Equal(a.day) || a.next >= a.end {
		first, err := a.reserve(ctx, day)
		if err != nil {
			return "", err
		}
		a.day, a.next, a.end = day, first, first+a.blockSize
	}
	serial := a.next
	a.next++
	return a.format(day, serial), nil
}

// reserve claims the next blockSize serials of prefix on day and returns the first. The upsert is
// atomic, so concurrent processes get disjoint blocks; a new day's row starts at 1.
func (a *Allocator) reserve(ctx context.Context, day time.Time) (int64, error) {
	// A date at UTC midnight so that pgx encodes the calendar day itself, whatever the zone.
	date := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
	var next int64
	err := a.pool.QueryRow(ctx, `
		INSERT INTO id_blocks (prefix, day, next_value) VALUES ($1, $2, 1 + $3::bigint)
		ON CONFLICT (prefix, day) DO UPDATE SET next_value = id_blocks.next_value + $3::bigint
		RETURNING next_value`,
		a.prefix, date, a.blockSize).Scan(&next)
	if err != nil {
		return 0, fmt.Errorf("ids: reserve %s block: %w", a.prefix, err)
	}
	return next - a.blockSize, nil
}

// CustomerFormat formats customer numbers: CUST-20261123-0001. Past 9999 the serial widens
// (CUST-20261123-10000); it is never truncated.
func CustomerFormat(day time.Time, n int64) string {
	return fmt.Sprintf("CUST-%s-%04d", day.Format("20060102"), n)
}

// CompactFormat returns a format for letter-prefixed numbers without separators, e.g.
// CompactFormat("F") gives F20261123001; past 999 the serial widens (F202611231000).
func CompactFormat(letter string) func(day time.Time, n int64) string {
	return func(day time.Time, n int64) string {
		return fmt.Sprintf("%s%s%03d", letter, day.Format("20060102"), n)
	}
}
