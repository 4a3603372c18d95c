package testkit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// CPUMeter measures the CPU time of this process and of the PostgreSQL backends serving a pool's
// database, so that a benchmark's figures can be judged apart from other load on the machine.
type CPUMeter struct {
	pool *pgxpool.Pool
	self time.Duration
	pg   map[int]float64
}

// StartCPU starts measuring; open the pool's connections first (a warm-up), since backends that
// start later are counted only from their start.
func StartCPU(b *testing.B, pool *pgxpool.Pool) *CPUMeter {
	b.Helper()
	m := &CPUMeter{pool: pool, self: selfCPU(), pg: map[int]float64{}}
	for _, pid := range backends(b, pool) {
		m.pg[pid] = procCPU(pid)
	}
	return m
}

// Stop returns the CPU seconds used since StartCPU by this process and by the backends.
func (m *CPUMeter) Stop(b *testing.B) (goSeconds, pgSeconds float64) {
	b.Helper()
	goSeconds = (selfCPU() - m.self).Seconds()
	for _, pid := range backends(b, m.pool) {
		pgSeconds += procCPU(pid) - m.pg[pid]
	}
	return goSeconds, pgSeconds
}

func backends(b *testing.B, pool *pgxpool.Pool) []int {
	b.Helper()
	rows, err := pool.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	out := make([]int, len(pids))
	for i, p := range pids {
		out[i] = int(p)
	}
	return out
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU reads utime+stime of a process in seconds from /proc (clock ticks of 1/100 s).
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100
}

// RunParallel is a benchmark of op under load as a service puts it: it runs op 100 times to open
// the pool's connections and prepare their statements, then b.N times in all from 16 goroutines
// (8 per core on 2 cores), and reports the rate as unit (e.g. "creates/s") and the CPU time per
// op of this process (go-cpu-ms/op) and of the database's backends (pg-cpu-ms/op).
func RunParallel(b *testing.B, pool *pgxpool.Pool, unit string, op func() error) {
	b.Helper()
	for range 100 {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	cpu := StartCPU(b, pool)
	b.ResetTimer()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	goCPU, pgCPU := cpu.Stop(b)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
	b.ReportMetric(goCPU*1e3/float64(b.N), "go-cpu-ms/op")
	b.ReportMetric(pgCPU*1e3/float64(b.N), "pg-cpu-ms/op")
}
