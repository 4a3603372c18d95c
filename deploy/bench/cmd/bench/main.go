// Command bench is `make bench`: it measures the running suite on this machine against a database
// of a million customers and writes the figures into docs/benchmarks.md.
//
//  1. builds the services and the gateway (with net/http/pprof on PPROF_ADDR);
//  2. seeds a template database once (crm_bench_seed: 1,000,000 customers, their projections in
//     the four services that keep one, needs and follow-ups; see internal/seed) and copies it into
//     a fresh benchmark database (crm_bench) for every run, so every run starts from the same data;
//  3. starts nats-server, the six services and the gateway on loopback ports;
//  4. runs the scenarios (internal/scenario), each against the suite and then as pgbench with the
//     same SQL, measuring throughput, latency, errors and the CPU time of every process;
//  5. takes CPU profiles of the busiest processes under load;
//  6. writes docs/benchmarks.md (between its markers) and the raw results under .data/bench/.
//
// Flags shorten or select scenarios for trying things out; `make bench` runs them all.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/crmsuite/crm/deploy/bench/internal/report"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(ctx, log, os.Args[1:]); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("bench failed", "error", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	root       string
	dbURL      string
	natsServer string
	pgbench    string
	out        string
	work       string
	customers  int
	needs      int
	followups  int
	scale      float64
	only       string
	profile    bool
	reseed     bool
	keep       bool
	summarise  bool
	render     string
	lagRates   []float64
	cpuProfile string
	gomaxprocs int
}

func run(ctx context.Context, log *slog.Logger, args []string) error {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.root, "root", "../..", "the repository's root")
	fs.StringVar(&o.dbURL, "db", envOr("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		"URL of a database on the PostgreSQL server to use (the benchmark creates its own databases there)")
	fs.StringVar(&o.natsServer, "nats-server", "", "the nats-server binary (default <root>/bin/nats-server)")
	fs.StringVar(&o.pgbench, "pgbench", "", "the pgbench binary (default: found under /usr/lib/postgresql or on PATH)")
	fs.StringVar(&o.out, "out", "", "the document to write (default <root>/docs/benchmarks.md)")
	fs.StringVar(&o.work, "work", "", "directory for logs, scripts, profiles and raw results (default <root>/.data/bench)")
	fs.IntVar(&o.customers, "customers", 1_000_000, "customers in the data set")
	fs.IntVar(&o.needs, "needs", 200_000, "needs (opportunities) in the data set")
	fs.IntVar(&o.followups, "followups", 200_000, "follow-ups in the data set")
	fs.Float64Var(&o.scale, "scale", 1, "multiplies every run's duration (0.2 for a quick try; figures are then rougher)")
	fs.StringVar(&o.only, "only", "", "comma-separated scenario keys to run (default all): "+strings.Join(scenarioKeys(), ","))
	fs.BoolVar(&o.profile, "profile", true, "take CPU profiles under load after the scenarios")
	fs.BoolVar(&o.reseed, "reseed", false, "rebuild the seeded template database even if it is current")
	fs.BoolVar(&o.keep, "keep", false, "keep the benchmark database (crm_bench) afterwards")
	fs.BoolVar(&o.summarise, "summarise", false, "only print where the CPU of the given profile files goes, as the report does")
	fs.StringVar(&o.render, "render", "", "only write the document again from a results-*.json of an earlier run")
	fs.Func("lag-rates", "comma-separated create rates of the event lag scenario (default 1000,300; the targets read 1000 and 300)",
		func(v string) error {
			o.lagRates = nil
			for _, f := range strings.Split(v, ",") {
				r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
				if err != nil || r <= 0 {
					return fmt.Errorf("not a positive rate: %q", f)
				}
				o.lagRates = append(o.lagRates, r)
			}
			return nil
		})
	fs.IntVar(&o.gomaxprocs, "gomaxprocs", 1, "GOMAXPROCS of the services and the gateway (0: Go's default, one per core); "+
		"see docs/benchmarks.md, \"One core per service\"")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this harness (the load generator) to the file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if o.lagRates == nil {
		o.lagRates = []float64{1000, 300}
	}
	if o.summarise {
		for _, f := range fs.Args() {
			fmt.Println(summarise(filepath.Base(f), "a profile", f, 15, "."))
			fmt.Println()
		}
		return nil
	}
	root, err := filepath.Abs(o.root)
	if err != nil {
		return err
	}
	o.root = root
	if o.natsServer == "" {
		o.natsServer = filepath.Join(root, "bin", "nats-server")
	}
	if o.out == "" {
		o.out = filepath.Join(root, "docs", "benchmarks.md")
	}
	if o.render != "" {
		return renderAgain(o.render, o.out)
	}
	if o.work == "" {
		o.work = filepath.Join(root, ".data", "bench")
	}
	h, err := newHarness(ctx, o, log, "make bench"+argsSuffix())
	if err != nil {
		return err
	}
	defer h.close()
	return h.run(ctx)
}

// argsSuffix shows the flags a run was given (BENCH_FLAGS, as `make bench` passes them), for the
// report's command line.
func argsSuffix() string {
	if f := strings.TrimSpace(os.Getenv("BENCH_FLAGS")); f != "" {
		return " BENCH_FLAGS='" + f + "'"
	}
	return ""
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// wait sleeps for d or until ctx is done.
func wait(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }

// renderAgain writes the document from the raw results of an earlier run, with this version's
// description of the method.
func renderAgain(results, out string) error {
	b, err := os.ReadFile(results)
	if err != nil {
		return err
	}
	var r report.Results
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: %w", results, err)
	}
	r.Method = method(nil)
	return report.WriteDoc(out, r)
}
