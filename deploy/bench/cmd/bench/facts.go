package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/crmsuite/crm/deploy/bench/internal/procstat"
	"github.com/crmsuite/crm/deploy/bench/internal/report"
)

// machineFacts describes the machine and the software the figures come from.
func (h *harness) machineFacts(ctx context.Context) []report.Fact {
	f := []report.Fact{{Name: "CPU cores", Value: fmt.Sprint(runtime.NumCPU())}}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				f = append(f, report.Fact{Name: "CPU model", Value: strings.TrimSpace(v)})
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		var kb int64
		fmt.Sscanf(strings.TrimPrefix(line, "MemTotal:"), "%d", &kb)
		f = append(f, report.Fact{Name: "memory", Value: fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))})
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		f = append(f, report.Fact{Name: "Linux kernel", Value: strings.TrimSpace(string(b))})
	}
	f = append(f, report.Fact{Name: "Go", Value: runtime.Version()})
	var pgVersion string
	if err := h.pool.QueryRow(ctx, "SELECT version()").Scan(&pgVersion); err == nil {
		v, _, _ := strings.Cut(pgVersion, " on ")
		f = append(f, report.Fact{Name: "PostgreSQL", Value: v})
	}
	rows, err := h.pool.Query(ctx, `SELECT name, setting, coalesce(unit, '') FROM pg_settings WHERE name IN
		('shared_buffers', 'synchronous_commit', 'fsync', 'max_connections', 'work_mem', 'effective_cache_size',
		 'wal_level', 'max_wal_size', 'jit', 'random_page_cost') ORDER BY name`)
	if err == nil {
		var parts []string
		for rows.Next() {
			var name, setting, unit string
			if rows.Scan(&name, &setting, &unit) == nil {
				parts = append(parts, name+"="+humanSetting(setting, unit))
			}
		}
		rows.Close()
		f = append(f, report.Fact{Name: "PostgreSQL settings (the machine's, unchanged)", Value: strings.Join(parts, ", ")})
	}
	f = append(f, report.Fact{Name: "NATS", Value: firstLine(command(h.o.natsServer, "--version")) +
		" (JetStream, file storage, one replica, default sync interval)"})
	f = append(f, report.Fact{Name: "pgbench", Value: firstLine(command(h.pgbench, "--version"))})
	rev := command("git", "-C", h.o.root, "rev-parse", "--short", "HEAD")
	if rev != "" {
		if command("git", "-C", h.o.root, "status", "--porcelain", "--untracked-files=no") != "" {
			rev += " with uncommitted changes"
		}
		f = append(f, report.Fact{Name: "commit", Value: rev})
	}
	procs := "Go's default GOMAXPROCS (one per core)"
	if h.o.gomaxprocs > 0 {
		procs = fmt.Sprintf("GOMAXPROCS=%d for the services and the gateway", h.o.gomaxprocs)
	}
	f = append(f, report.Fact{Name: "suite", Value: "6 services + gateway + nats-server as separate processes, " +
		"PostgreSQL on the same machine, load generator (this harness) too; LOG_LEVEL=info, LOG_FORMAT=json, " + procs + ", " +
		"OpenTelemetry spans created but not exported (no OTEL_EXPORTER_OTLP_ENDPOINT)"})
	return f
}

func humanSetting(setting, unit string) string {
	var n int64
	if _, err := fmt.Sscanf(setting, "%d", &n); err != nil || unit == "" {
		return setting
	}
	bytes := map[string]int64{"8kB": 8 << 10, "kB": 1 << 10, "MB": 1 << 20}[unit]
	if bytes == 0 {
		return setting + unit
	}
	v := n * bytes
	switch {
	case v >= 1<<30 && v%(1<<30) == 0:
		return fmt.Sprintf("%dGB", v>>30)
	case v >= 1<<20:
		return fmt.Sprintf("%dMB", v>>20)
	}
	return fmt.Sprintf("%dkB", v>>10)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// dataFacts describes the data set.
func (h *harness) dataFacts(ctx context.Context) []report.Fact {
	var f []report.Fact
	count := func(name, q string) {
		var n int64
		var size string
		if err := h.pool.QueryRow(ctx, q).Scan(&n, &size); err == nil {
			f = append(f, report.Fact{Name: name, Value: fmt.Sprintf("%s rows, %s with indexes", thousands(n), size)})
		}
	}
	count("customers", `SELECT (SELECT count(*) FROM customer.customers), pg_size_pretty(pg_total_relation_size('customer.customers'))`)
	count("customer_refs (each of followup, needs, tagging, feedback)", `SELECT (SELECT count(*) FROM followup.customer_refs), pg_size_pretty(pg_total_relation_size('followup.customer_refs'))`)
	count("needs", `SELECT (SELECT count(*) FROM needs.needs), pg_size_pretty(pg_total_relation_size('needs.needs'))`)
	count("follow-ups", `SELECT (SELECT count(*) FROM followup.followups), pg_size_pretty(pg_total_relation_size('followup.followups'))`)
	var dbSize string
	if err := h.pool.QueryRow(ctx, `SELECT pg_size_pretty(pg_database_size(current_database()))`).Scan(&dbSize); err == nil {
		f = append(f, report.Fact{Name: "benchmark database", Value: dbSize + " (a fresh copy of the seeded template for every run)"})
	}
	f = append(f, report.Fact{Name: "data set", Value: fmt.Sprintf("customers spread over %d days from %s, %d sales reps in %d teams, "+
		"1%% soft-deleted; written by deploy/bench/internal/seed with COPY (see its package comment for why not through the API)",
		1095, h.layout.FirstDay.Format("2006-01-02"), 500, 25)})
	return f
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// method explains how the figures are made.
func method(h *harness) []string {
	return []string{
		"**Load.** A Go harness (deploy/bench) sends the requests: the generated gRPC clients, and net/http with keep-alive " +
			"for REST. *Open* runs start requests at a fixed rate whatever the server does (each latency counted from when the " +
			"request was due, so queueing shows); *workers (max)* runs keep that many requests in flight back to back and " +
			"give the highest rate. Percentiles are exact over all requests of a run. Errors are any non-OK answer.",
		"**Limits.** For every scenario pgbench runs the same SQL statements in the same transactions on the same database " +
			"right after the service runs, in the same round trips (statements that the service sends as one batch go as " +
			"one pipeline, \\startpipeline … \\endpipeline; scripts in deploy/bench/internal/scenario/pgbench.go; -M prepared as pgx caches " +
			"statements, -M extended for the searches, which the customer service plans per keyword; commands under each " +
			"table), connecting as the services do (the sslmode of their URL, PGSSLMODE, so that neither side pays for TLS the other " +
			"skips). pgbench's own CPU is not in its CPU/req; its *busy* includes it. Before every run the harness waits " +
			"until no outbox row and no consumer message is pending, and issues a CHECKPOINT.",
		"**CPU per request.** utime+stime from /proc/<pid>/stat of every process of the suite, sampled every 250 ms so " +
			"that short-lived ones count, before and after each run, divided by the successful requests. PostgreSQL is " +
			"counted as the backends connected to the benchmark database plus the server's shared background processes.",
		"**Data.** The database is a fresh copy (CREATE DATABASE … TEMPLATE) of a template seeded once with COPY, and " +
			"read into the OS page cache (pg_prewarm) before the runs; everything else is as `make run` runs it.",
		"**Reproduce.** `make bench` (about 15 minutes; the first run also seeds the template, a few minutes more). " +
			"`make bench BENCH_FLAGS='-only get,search -scale 0.3'` runs a subset, shorter. Raw results and profiles stay " +
			"in .data/bench/.",
	}
}

// steal names the hypervisor's steal during the runs a target was measured in, when it took 5 %
// of the machine or more in one of them: such a figure says more about the machine's moment than
// about the suite (docs/benchmarks.md, "What the other work was").
func steal(runs ...report.Run) string {
	most := 0.0
	for _, r := range runs {
		for _, p := range r.OtherParts {
			if p.Name == procstat.Steal {
				most = max(most, p.Share)
			}
		}
	}
	if most < 0.05 {
		return ""
	}
	return fmt.Sprintf(" (steal %.0f%% of the machine)", 100*most)
}

// getLimitTail names the p99 of pgbench's read at 1,000/s right before and right after the gRPC
// run, when it ran: on a machine whose database alone has a tail near a latency target, that
// decides the target more than the service does.
func getLimitTail(f map[string]report.Run) string {
	b, ok1 := f["get-limit-before"]
	a, ok2 := f["get-limit-after"]
	if !ok1 || !ok2 {
		return ""
	}
	return fmt.Sprintf("; pgbench's own p99 at %.0f/s right before and after: %s and %s ms",
		(b.Throughput+a.Throughput)/2, report.MS(b.Latency.P99), report.MS(a.Latency.P99))
}

// targets checks the targets against this run's figures.
func (h *harness) targets() []report.Target {
	var t []report.Target
	f := h.figures
	t = append(t, createTargets(h.createRounds)...)
	if g, ok := f["get-grpc"]; ok {
		met := g.Latency.P99 < 5e6 && g.Errors == 0 && g.Throughput >= 990
		t = append(t, report.Target{Text: "get by id p99 < 5 ms at 1,000 requests/s (gRPC)",
			Measured: fmt.Sprintf("p99 %s ms at %.0f/s", report.MS(g.Latency.P99), g.Throughput) + steal(g) + getLimitTail(f),
			Met:      met})
		if r, ok := f["get-rest"]; ok {
			t = append(t, report.Target{Text: "(same through REST, for reference)",
				Measured: fmt.Sprintf("p99 %s ms at %.0f/s", report.MS(r.Latency.P99), r.Throughput) + steal(r),
				Met:      r.Latency.P99 < 5e6 && r.Errors == 0})
		}
	}
	if s, ok := f["search-open"]; ok {
		t = append(t, report.Target{Text: "keyword search over 1,000,000 customers p95 < 50 ms",
			Measured: fmt.Sprintf("p95 %s ms (keyword mix, 20/s)", report.MS(s.Latency.P95)), Met: s.Latency.P95 < 50e6 && s.Errors == 0})
		if sh, ok := f["search-short"]; ok {
			t = append(t, report.Target{Text: "(same with 2-character keywords, for reference)",
				Measured: fmt.Sprintf("p95 %s ms", report.MS(sh.Latency.P95)), Met: sh.Latency.P95 < 50e6 && sh.Errors == 0})
		}
	}
	if l, ok := f["lag-1000"]; ok {
		c := f["lag-create-1000"]
		met := l.Latency.P99 < 200e6 && l.Errors == 0 && c.Errors == 0 && c.Throughput >= 990
		t = append(t, report.Target{Text: "event lag p99 < 200 ms at 1,000 creates/s",
			Measured: fmt.Sprintf("p99 %s ms; creates sustained %.0f/s (p99 %s ms)", report.MS(l.Latency.P99),
				c.Throughput, report.MS(c.Latency.P99)) + steal(c), Met: met})
	}
	if l, ok := f["lag-300"]; ok {
		t = append(t, report.Target{Text: "(event lag at 300 creates/s, for reference)",
			Measured: fmt.Sprintf("p99 %s ms", report.MS(l.Latency.P99)), Met: l.Latency.P99 < 200e6 && l.Errors == 0})
	}
	var errs int
	var where []string
	for _, s := range h.results.Scenarios {
		for _, r := range s.Service {
			if r.Errors > 0 {
				errs += r.Errors
				where = append(where, fmt.Sprintf("%s / %s: %d (%s)", s.Title, r.Label, r.Errors, r.ErrorKinds))
			}
		}
	}
	t = append(t, report.Target{Text: "no errors", Measured: fmt.Sprintf("%d errors %s", errs, strings.Join(where, "; ")), Met: errs == 0})
	return t
}
