package ids

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/testkit"
)

func TestFormats(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, china)
	tests := []struct {
		name   string
		format func(time.Time, int64) string
		n      int64
		want   string
	}{
		{"customer first", CustomerFormat, 1, "CUST-20261123-0001"},
		{"customer padded", CustomerFormat, 42, "CUST-20261123-0042"},
		{"customer last four-digit", CustomerFormat, 9999, "CUST-20261123-9999"},
		{"customer widens", CustomerFormat, 10000, "CUST-20261123-10000"},
		{"customer widens more", CustomerFormat, 1234567, "CUST-20261123-1234567"},
		{"compact first", CompactFormat("F"), 1, "F20261123001"},
		{"compact last three-digit", CompactFormat("D"), 999, "D20261123999"},
		{"compact widens", CompactFormat("T"), 1000, "T202611231000"},
		{"compact widens more", CompactFormat("S"), 100000, "S20261123100000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.format(day, tc.n); got != tc.want {
				t.Fatalf("format(%d) = %q, want %q", tc.n, got, tc.want)
			}
		})
	}
}

// newPool returns a pool on a fresh database with the ids migrations applied in schema svc.
func newPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	ctx := context.Background()
	pool, err := pgdb.Connect(ctx, testkit.NewDatabase(tb), "svc")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	if err := pgdb.Migrate(ctx, pool, "svc", "ids", Migrations); err != nil {
		tb.Fatal(err)
	}
	return pool
}

// fixedClock returns a clock reading t; tests move it with the returned setter.
func fixedClock(t time.Time) (now func() time.Time, set func(time.Time)) {
	var mu sync.Mutex
	return func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			return t
		}, func(nt time.Time) {
			mu.Lock()
			defer mu.Unlock()
			t = nt
		}
}

func TestNextConcurrentUnique(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	// A small block, so the goroutines run out of blocks and refill many times while racing.
	a := NewAllocator(pool, "CUST", CustomerFormat, 7)
	now, _ := fixedClock(time.Date(2026, 11, 23, 9, 0, 0, 0, china))
	a.SetClock(now)
	const workers, each = 8, 500
	results := make([][]string, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				id, err := a.Next(context.Background())
				if err != nil {
					errs[w] = err
					return
				}
				results[w] = append(results[w], id)
			}
		})
	}
	wg.Wait()
	seen := make(map[string]bool, workers*each)
	for w := range workers {
		if errs[w] != nil {
			t.Fatalf("worker %d: %v", w, errs[w])
		}
		for _, id := range results[w] {
			if seen[id] {
				t.Fatalf("duplicate id %s", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != workers*each {
		t.Fatalf("%d unique ids, want %d", len(seen), workers*each)
	}
	// One process, no restart: no gaps, so the serials are exactly 1..4000.
	for n := 1; n <= workers*each; n++ {
		if id := fmt.Sprintf("CUST-20261123-%04d", n); !seen[id] {
			t.Fatalf("missing %s", id)
		}
	}
}

func TestTwoProcessesNeverCollide(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	// Separate allocators, as two replicas would have, with different block sizes so their
	// blocks interleave unevenly.
	allocators := []*Allocator{
		NewAllocator(pool, "F", CompactFormat("F"), 5),
		NewAllocator(pool, "F", CompactFormat("F"), 3),
	}
	const each = 300
	ids := make([][]string, len(allocators))
	errs := make([]error, len(allocators))
	var wg sync.WaitGroup
	for i, a := range allocators {
		wg.Go(func() {
			for range each {
				id, err := a.Next(context.Background())
				if err != nil {
					errs[i] = err
					return
				}
				ids[i] = append(ids[i], id)
			}
		})
	}
	wg.Wait()
	seen := map[string]int{}
	for i := range allocators {
		if errs[i] != nil {
			t.Fatalf("allocator %d: %v", i, errs[i])
		}
		for _, id := range ids[i] {
			if prev, dup := seen[id]; dup {
				t.Fatalf("id %s handed out by allocators %d and %d", id, prev, i)
			}
			seen[id] = i
		}
	}

	// A restarted process (a new allocator) skips the unused rest of the old blocks.
	restarted := NewAllocator(pool, "F", CompactFormat("F"), 5)
	id, err := restarted.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, dup := seen[id]; dup {
		t.Fatalf("restarted allocator repeated %s", id)
	}
}

func TestDayRolloverStartsAtOne(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := context.Background()
	a := NewAllocator(pool, "CUST", CustomerFormat, 10)
	// 15:59:59 UTC is 23:59:59 in Shanghai: the day boundary is China's, not UTC's.
	now, set := fixedClock(time.Date(2026, 11, 23, 15, 59, 59, 0, time.UTC))
	a.SetClock(now)

	next := func() string {
		t.Helper()
		id, err := a.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	for _, want := range []string{"CUST-20261123-0001", "CUST-20261123-0002", "CUST-20261123-0003"} {
		if got := next(); got != want {
			t.Fatalf("Next = %s, want %s", got, want)
		}
	}
	set(time.Date(2026, 11, 23, 16, 0, 0, 0, time.UTC)) // 00:00 on the 24th in Shanghai
	for _, want := range []string{"CUST-20261124-0001", "CUST-20261124-0002"} {
		if got := next(); got != want {
			t.Fatalf("after midnight Next = %s, want %s", got, want)
		}
	}
	// A clock stepped back to the old day must not reuse that day's serials: the rest of its
	// first block is skipped.
	set(time.Date(2026, 11, 23, 15, 59, 59, 0, time.UTC))
	if got := next(); got != "CUST-20261123-0011" {
		t.Fatalf("back on the 23rd Next = %s, want CUST-20261123-0011", got)
	}
}

func TestNextFailsWithoutTable(t *testing.T) {
	t.Parallel()
	pool, err := pgdb.Connect(context.Background(), testkit.NewDatabase(t), "svc")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	a := NewAllocator(pool, "CUST", CustomerFormat, 0)
	_, err = a.Next(context.Background())
	if err == nil || !strings.Contains(err.Error(), "CUST") {
		t.Fatalf("Next without id_blocks = %v, want an error naming the prefix", err)
	}
}

func BenchmarkAllocatorNext(b *testing.B) {
	pool := newPool(b)
	a := NewAllocator(pool, "CUST", CustomerFormat, DefaultBlockSize)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := a.Next(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
