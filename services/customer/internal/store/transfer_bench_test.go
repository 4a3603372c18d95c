package store_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/crmsuite/crm/pkg/config"
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/testkit"
	"github.com/crmsuite/crm/services/customer/internal/customer"
	"github.com/crmsuite/crm/services/customer/internal/server"
	"github.com/crmsuite/crm/services/customer/internal/store"
	"github.com/crmsuite/crm/services/customer/internal/transfer"
)

// benchRows is the size of the import benchmark's file.
const benchRows = 100_000

// benchFile returns a file of n rows starting at serial from: 1% of them repeat a customer of the
// base file (serials below benchRows) and 1% are invalid, so that every check has work to do.
func benchFile(b *testing.B, format string, from, n int) []byte {
	b.Helper()
	rows := make([][]string, 0, n)
	for i := range n {
		r := importRow(from + i)
		switch {
		case from > 0 && i%100 == 7:
			r = importRow(i) // an existing customer
		case i%100 == 42:
			r[5] = "1380000" // an invalid mobile
		}
		rows = append(rows, r)
	}
	switch format {
	case "xlsx":
		f := excelize.NewFile()
		defer f.Close()
		sw, err := f.NewStreamWriter("Sheet1")
		if err != nil {
			b.Fatal(err)
		}
		for i, r := range append([][]string{importHeader}, rows...) {
			cells := make([]any, len(r))
			for j, c := range r {
				cells[j] = c
			}
			if err := sw.SetRow(fmt.Sprintf("A%d", i+1), cells); err != nil {
				b.Fatal(err)
			}
		}
		if err := sw.Flush(); err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		if err := f.Write(&buf); err != nil {
			b.Fatal(err)
		}
		return buf.Bytes()
	case "csv-gb18030":
		var sb strings.Builder
		w := csv.NewWriter(&sb)
		_ = w.Write(importHeader)
		_ = w.WriteAll(rows)
		out, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte(sb.String()))
		if err != nil {
			b.Fatal(err)
		}
		return out
	}
	return csvFile(rows...)
}

// BenchmarkImport100k imports a 100,000-row file into a database that already holds 100,000
// customers: two passes over the file, conversion and validation of every row, duplicate checks
// against the existing customers and within the file, and the bulk writes of customers, import
// rows and outbox events. Each iteration gets a fresh database (set up outside the timer).
func BenchmarkImport100k(b *testing.B) {
	config.SetGOGC() // the garbage collector's target as the service runs with it
	for _, bc := range []struct {
		format string
		mode   store.ImportMode
	}{
		{"csv", store.ModeValidOnly},
		{"csv-gb18030", store.ModeValidOnly},
		{"csv", store.ModeDryRun},
		{"csv", store.ModeAllOrNothing},
		{"xlsx", store.ModeValidOnly},
		// The floor: PostgreSQL inserting 100,000 rows into customers by itself, in one statement.
		{"sql", ""},
	} {
		if bc.format == "sql" {
			b.Run("sql/insert-select", benchInsertSelect)
			continue
		}
		b.Run(bc.format+"/"+string(bc.mode), func(b *testing.B) {
			base := csvFile(func() [][]string {
				rows := make([][]string, benchRows)
				for i := range rows {
					rows[i] = importRow(i)
				}
				return rows
			}()...)
			file := benchFile(b, bc.format, benchRows, benchRows)
			if bc.mode == store.ModeAllOrNothing {
				// All or nothing writes only a file without invalid rows.
				file = benchFile(b, bc.format, 2*benchRows, benchRows)
				file = removeInvalid(b, bc.format, file)
			}
			var rows int
			var goCPU, pgCPU float64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				st, pool := benchStore(b)
				tr := store.NewTransfer(st)
				runImport(b, tr, store.ModeValidOnly, "base.csv", base)
				// Let autovacuum analyse the base rows now rather than during the measurement.
				if _, err := pool.Exec(context.Background(), `VACUUM ANALYZE customers`); err != nil {
					b.Fatal(err)
				}
				cpu := testkit.StartCPU(b, pool)
				b.StartTimer()
				job := runImport(b, tr, bc.mode, "bench."+bc.format[:min(len(bc.format), 4)], file)
				b.StopTimer()
				g, p := cpu.Stop(b)
				goCPU, pgCPU = goCPU+g, pgCPU+p
				b.StartTimer()
				if job.Status != store.StatusDone || job.DoneRows != benchRows {
					b.Fatalf("job %+v", job)
				}
				rows += job.DoneRows
				if i == 0 {
					b.Logf("%s %s: created %d, skipped %d, failed %d", bc.format, bc.mode, job.Created, job.Skipped, job.Failed)
				}
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(goCPU/float64(b.N), "go-cpu-s/op")
			b.ReportMetric(pgCPU/float64(b.N), "pg-cpu-s/op")
		})
	}
}

// benchInsertSelect measures what the database alone needs for 100,000 customers with all the
// table's indexes (INSERT … SELECT generate_series, no client round trips, no events), on the
// same 100,000 base rows: the floor any import is measured against.
func benchInsertSelect(b *testing.B) {
	var pgCPU float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		_, pool := benchStore(b)
		seedCustomers(b, pool, benchRows, false)
		cpu := testkit.StartCPU(b, pool)
		b.StartTimer()
		if _, err := pool.Exec(context.Background(), insertSelect, benchRows+1, 2*benchRows); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_, p := cpu.Stop(b)
		pgCPU += p
		b.StartTimer()
	}
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(pgCPU/float64(b.N), "pg-cpu-s/op")
}

// removeInvalid regenerates a benchmark file without its invalid rows (for all-or-nothing).
func removeInvalid(b *testing.B, format string, _ []byte) []byte {
	b.Helper()
	rows := importRows(2*benchRows, benchRows)
	if format != "csv" {
		b.Fatal("all-or-nothing benchmark is CSV only")
	}
	return csvFile(rows...)
}

// BenchmarkExport exports every customer of a database holding BENCH_EXPORT_ROWS customers (default
// 200,000) through the same path as ExportCustomers: keyset pages from the store, masking, and
// the streaming CSV or XLSX writer, into io.Discard. It reports allocated bytes per row and the
// peak live heap, which must not grow with the row count.
func BenchmarkExport(b *testing.B) {
	for _, n := range []int{200_000, 1_000_000} {
		if n > 200_000 && testing.Short() {
			continue
		}
		st, pool := benchStore(b)
		tr := store.NewTransfer(st)
		seedCustomers(b, pool, n, true)
		for _, format := range []transfer.Format{transfer.FormatCSV, transfer.FormatXLSX} {
			b.Run(fmt.Sprintf("%s/%d", format, n), func(b *testing.B) {
				var peak atomic.Uint64
				stop := watchHeap(&peak)
				var total uint64
				for b.Loop() {
					exp, err := transfer.NewExporter(io.Discard, format, "zh-CN", true)
					if err != nil {
						b.Fatal(err)
					}
					rows, err := tr.ExportCustomers(context.Background(), store.ListInput{Order: customer.Order{Field: "create_time", Desc: true}}, exp.Write)
					if err != nil || rows != n {
						b.Fatalf("exported %d: %v", rows, err)
					}
					if err := exp.Close(); err != nil {
						b.Fatal(err)
					}
					total += uint64(rows)
				}
				stop()
				b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "rows/s")
				b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
			})
		}
	}
}

// watchHeap samples the live heap every 10 ms into peak until stop is called.
func watchHeap(peak *atomic.Uint64) (stop func()) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// insertSelect inserts customers with serials $1 to $2 in one statement.
const insertSelect = `INSERT INTO customers (id, name, name_key, type, industry, uscc, contact_name, mobile, email, province, city,
		street, scale, status, owner_id, team_id, remarks, status_changed_at, status_changed_by, created_at, created_by, updated_at, updated_by)
	SELECT 'CUST-20260101-' || lpad(g::text, 7, '0'), '导出测试' || g || '有限公司', '导出测试' || g, 'enterprise', 'I65',
		'91330100' || lpad(g::text, 9, '0') || 'X', '陈静', '136' || lpad(g::text, 8, '0'), 'e' || g || '@example.com', '浙江省', '杭州市',
		'西湖区文三路' || g || '号', '51-200', 'active', 'u-sales1', 'east', '=备注' || g, now() - g * interval '1 second', 'seed',
		now() - g * interval '1 second', 'seed', now(), 'seed'
	FROM generate_series($1::int, $2::int) g`

// seedCustomers inserts n customers with one INSERT … SELECT; this is set-up, not what is
// measured. dropSearch first drops the keyword-search indexes (trigrams and bigrams): an export
// does not use them and they would make seeding a million rows take minutes.
func seedCustomers(b *testing.B, pool *pgxpool.Pool, n int, dropSearch bool) {
	b.Helper()
	ctx := context.Background()
	if dropSearch {
		if _, err := pool.Exec(ctx, `DROP INDEX customers_mobile_trgm, customers_id_trgm, customers_bigrams`); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, insertSelect, 1, n); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE customers`); err != nil {
		b.Fatal(err)
	}
}

// benchStore is newStore for benchmarks.
func benchStore(b *testing.B) (*store.Store, *pgxpool.Pool) {
	b.Helper()
	ctx := context.Background()
	pool, err := pgdb.Connect(ctx, testkit.NewDatabase(b), store.Schema)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	if err := store.Migrate(ctx, pool); err != nil {
		b.Fatal(err)
	}
	return store.New(pool, server.EventData), pool
}
