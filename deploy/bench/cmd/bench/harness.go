package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmsuite/crm/deploy/bench/internal/pgbench"
	"github.com/crmsuite/crm/deploy/bench/internal/procstat"
	"github.com/crmsuite/crm/deploy/bench/internal/report"
	"github.com/crmsuite/crm/deploy/bench/internal/scenario"
	"github.com/crmsuite/crm/deploy/bench/internal/seed"
	"github.com/crmsuite/crm/deploy/bench/internal/suite"
)

// Database names on the PostgreSQL server.
const (
	templateDB = "crm_bench_seed"
	benchDB    = "crm_bench"
)

// secret is the suite's HS256 secret during the benchmark (loopback only, thrown away after).
const secret = "crm-bench-secret-crm-bench-secret-0123456789"

// harness is one `make bench`.
type harness struct {
	o       options
	log     *slog.Logger
	started time.Time
	command string

	adminURL *url.URL // the server's maintenance database
	benchURL string
	pgbench  string
	binDir   string

	layout   seed.Layout
	suite    *suite.Suite
	env      *scenario.Env
	pool     *pgxpool.Pool // on the benchmark database, for the harness's own queries
	groups   []procstat.Group
	keywords []scenario.Keyword
	short    []scenario.Keyword

	results report.Results
	// figures are the runs the targets read, by key ("get-grpc", "get-limit-before", "lag-1000", …).
	figures map[string]report.Run
	// createRounds are the create scenario's rounds, for its targets.
	createRounds []createRound
}

func newHarness(ctx context.Context, o options, log *slog.Logger, command string) (*harness, error) {
	h := &harness{o: o, log: log, started: time.Now(), command: command, figures: map[string]report.Run{}}
	u, err := url.Parse(o.dbURL)
	if err != nil {
		return nil, fmt.Errorf("-db: %w", err)
	}
	h.adminURL = u
	h.benchURL = h.dbURL(benchDB)
	if err := os.MkdirAll(o.work, 0o755); err != nil {
		return nil, err
	}
	h.binDir = filepath.Join(o.work, "bin")
	if err := os.MkdirAll(h.binDir, 0o755); err != nil {
		return nil, err
	}
	if h.pgbench = o.pgbench; h.pgbench == "" {
		if h.pgbench, err = pgbench.Find(); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(o.natsServer); err != nil {
		return nil, fmt.Errorf("nats-server: %w (deploy/bench/bench.sh builds it)", err)
	}
	return h, nil
}

// dbURL is the admin URL with another database name.
func (h *harness) dbURL(name string) string {
	u := *h.adminURL
	u.Path = "/" + name
	return u.String()
}

func (h *harness) close() {
	if h.env != nil {
		h.env.Close()
	}
	if h.suite != nil {
		h.suite.Stop()
	}
	if h.pool != nil {
		h.pool.Close()
	}
	if !h.o.keep && h.benchURL != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, h.adminURL.String()); err == nil {
			_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+benchDB+" WITH (FORCE)")
			_ = conn.Close(ctx)
		}
	}
}

func (h *harness) run(ctx context.Context) error {
	h.log.Info("building the services and the gateway", "into", h.binDir)
	if err := suite.Build(ctx, h.o.root, h.binDir, true); err != nil {
		return err
	}
	if err := h.prepareDatabase(ctx); err != nil {
		return err
	}
	var err error
	h.pool, err = pgxpool.New(ctx, h.benchURL)
	if err != nil {
		return err
	}
	h.keywords = scenario.Keywords(h.layout, 2000)
	h.short = scenario.ShortKeywords(h.layout, 500)
	conn, err := h.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	err = scenario.StoreKeywords(ctx, conn.Conn(), "bench_keywords", h.keywords)
	if err == nil {
		err = scenario.StoreKeywords(ctx, conn.Conn(), "bench_keywords_short", h.short)
	}
	conn.Release()
	if err != nil {
		return err
	}
	h.prewarm(ctx)

	h.log.Info("starting the suite", "gomaxprocs", h.o.gomaxprocs)
	h.suite, err = suite.Start(ctx, suite.Config{
		BinDir: h.binDir, NATSServer: h.o.natsServer, DatabaseURL: h.benchURL, Secret: secret,
		LogDir: filepath.Join(h.o.work, "logs"), Pprof: true,
		Env: h.suiteEnv(),
	}, h.log)
	if err != nil {
		return err
	}
	h.env, err = scenario.NewEnv(scenario.Addrs{
		Customer: h.suite.Proc("customer").Addr, FollowUp: h.suite.Proc("followup").Addr,
		Needs: h.suite.Proc("needs").Addr, Gateway: h.suite.GatewayURL,
	}, secret, h.layout, h.keywords)
	if err != nil {
		return err
	}
	h.groups = h.cpuGroups()

	h.results = report.Results{Command: h.command, Started: h.started}
	h.results.Machine = h.machineFacts(ctx)
	h.results.Data = h.dataFacts(ctx)
	if other := h.otherLoad(); other != "" {
		h.results.Warnings = append(h.results.Warnings, other)
	}

	if err := h.scenarios(ctx); err != nil {
		return err
	}
	if h.o.profile {
		if err := h.profiles(ctx); err != nil {
			h.log.Warn("profiles", "error", err)
			h.results.Warnings = append(h.results.Warnings, "profiling failed: "+err.Error())
		}
	}
	h.results.Targets = h.targets()
	h.results.Method = method(h)
	h.results.Took = time.Since(h.started)
	stamp := h.started.Format("20060102-150405")
	if err := report.SaveJSON(filepath.Join(h.o.work, "results-"+stamp+".json"), h.results); err != nil {
		return err
	}
	if err := report.WriteDoc(h.o.out, h.results); err != nil {
		return err
	}
	h.log.Info("results written", "doc", h.o.out, "raw", filepath.Join(h.o.work, "results-"+stamp+".json"))
	return nil
}

// cpuGroups are the processes whose CPU time is measured: each of the suite's, and the
// PostgreSQL processes that work for the benchmark database (other databases' backends on the
// same server are left out); the harness itself is measured as the load generator.
func (h *harness) cpuGroups() []procstat.Group {
	var g []procstat.Group
	for _, p := range h.suite.Procs {
		g = append(g, procstat.Group{Name: p.Name, Pids: []int{p.Pid}})
	}
	g = append(g, procstat.Group{Name: "postgres", Match: procstat.PostgresFor(benchDB)})
	g = append(g, procstat.Group{Name: loadGenerator, Pids: []int{os.Getpid()}})
	backends := &backendsByClient{pool: h.pool}
	clients := []string{"pgbench"}
	for _, p := range h.suite.Procs {
		clients = append(clients, p.Name, p.Name+"-relay") // pkg/service gives the outbox relay a connection of its own
	}
	for _, client := range clients {
		g = append(g, procstat.Group{Name: postgresPrefix + client, Lookup: func() []int { return backends.pidsOf(client) }})
	}
	return g
}

// postgresPrefix starts the names of the groups that split "postgres" by client: the backends of
// the benchmark database that a service (or pgbench) opened, told by their application_name,
// which pkg/pgdb sets to the service's name. They are part of "postgres", not added to it.
const postgresPrefix = "postgres/"

// backendsByClient reads which backends of the benchmark database each client opened from
// pg_stat_activity, at most once per sample.
type backendsByClient struct {
	pool *pgxpool.Pool
	mu   sync.Mutex
	read time.Time
	pids map[string][]int // application_name → backend pids
}

func (b *backendsByClient) pidsOf(client string) []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if time.Since(b.read) > 100*time.Millisecond {
		b.read = time.Now()
		b.pids = map[string][]int{}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		rows, err := b.pool.Query(ctx, `SELECT pid, application_name FROM pg_stat_activity WHERE datname = $1`, benchDB)
		if err == nil {
			var pid int
			var app string
			_, err = pgx.ForEachRow(rows, []any{&pid, &app}, func() error {
				b.pids[app] = append(b.pids[app], pid)
				return nil
			})
		}
		if err != nil {
			b.pids = nil // this sample goes without; "postgres" still counts everything
		}
	}
	return b.pids[client]
}

// loadGenerator is the CPU group of the harness itself, left out of the suite's CPU per request.
const loadGenerator = "load generator"

// prewarm reads the benchmark database's customer tables and indexes into the OS page cache
// (pg_prewarm, in PostgreSQL's contrib), so that the first scenario does not pay for a cold disk.
func (h *harness) prewarm(ctx context.Context) {
	start := time.Now()
	_, err := h.pool.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_prewarm`)
	if err == nil {
		_, err = h.pool.Exec(ctx, `SELECT pg_prewarm(c.oid, 'read') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname IN ('customer', 'needs', 'followup') AND c.relkind IN ('r', 'i')`)
	}
	if err != nil {
		h.log.Warn("prewarm skipped", "error", err)
		return
	}
	h.log.Info("prewarmed the page cache", "took", time.Since(start).Round(time.Second))
}

// otherLoad reports when the machine was busy before the benchmark started (other work skews the
// figures on two cores).
func (h *harness) otherLoad() string {
	a, err := procstat.ReadMachine()
	if err != nil {
		return ""
	}
	time.Sleep(2 * time.Second)
	b, err := procstat.ReadMachine()
	if err != nil {
		return ""
	}
	if u := procstat.Utilisation(a, b); u > 0.15 {
		return fmt.Sprintf("the machine was %.0f%% busy with other work just before the scenarios started; "+
			"figures are lower than on an idle machine", 100*u)
	}
	return ""
}

// command runs a program and returns its trimmed output ("" on failure).
func command(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// suiteEnv is the environment the services and the gateway run with, beyond their addresses.
func (h *harness) suiteEnv() []string {
	env := []string{"LOG_FORMAT=json", "LOG_LEVEL=info"}
	if h.o.gomaxprocs > 0 {
		env = append(env, fmt.Sprintf("GOMAXPROCS=%d", h.o.gomaxprocs))
	}
	return env
}
