package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crmsuite/crm/deploy/bench/internal/load"
	"github.com/crmsuite/crm/deploy/bench/internal/pgbench"
	"github.com/crmsuite/crm/deploy/bench/internal/procstat"
	"github.com/crmsuite/crm/deploy/bench/internal/report"
	"github.com/crmsuite/crm/deploy/bench/internal/scenario"
)

// serviceRun is one load run against the suite.
type serviceRun struct {
	label    string
	rate     float64 // open model when > 0
	workers  int     // closed model workers, or the open model's in-flight cap
	duration time.Duration
	req      load.Request
}

// dur scales a nominal duration by -scale (at least 3 s).
func (h *harness) dur(d time.Duration) time.Duration {
	return max(time.Duration(float64(d)*h.o.scale), 3*time.Second)
}

// measure runs r and returns its figures with the CPU time every process used.
func (h *harness) measure(ctx context.Context, r serviceRun) (report.Run, load.Result) {
	h.log.Info("run", "what", r.label, "duration", r.duration)
	m0, _ := procstat.ReadMachine()
	p0 := procstat.ReadProcesses()
	s := procstat.Start(h.groups, 250*time.Millisecond)
	var res load.Result
	if r.rate > 0 {
		res = load.Open(ctx, r.rate, r.duration, r.workers, r.req)
	} else {
		res = load.Closed(ctx, r.workers, r.duration, r.req)
	}
	cpu := s.Stop()
	m1, _ := procstat.ReadMachine()
	p1 := procstat.ReadProcesses()
	out := report.Run{
		Label:      r.label,
		Requests:   res.Requests,
		Errors:     res.Errors,
		ErrorKinds: res.ErrorSummary(),
		Seconds:    res.Elapsed.Seconds(),
		Throughput: res.Throughput(),
		Latency: report.Latency{P50: res.Percentile(0.50), P95: res.Percentile(0.95),
			P99: res.Percentile(0.99), Max: res.Max()},
		MachineBusy: procstat.Utilisation(m0, m1),
	}
	h.setCPU(&out, cpu, res.Requests-res.Errors)
	setOther(&out, cpu, m0, m1)
	if total := m1.Total - m0.Total; total > 0 {
		for _, u := range procstat.Others(m0, m1, p0, p1, s.Pids()) {
			share := float64(u.CPU) / float64(total)
			if len(out.OtherParts) == 5 || share < 0.005 {
				break
			}
			out.OtherParts = append(out.OtherParts, report.Part{Name: u.Name, Share: share})
		}
	}
	h.log.Info("result", "what", r.label, "req/s", fmt.Sprintf("%.0f", out.Throughput),
		"p50", report.MS(out.Latency.P50), "p99", report.MS(out.Latency.P99), "errors", out.Errors, "kinds", out.ErrorKinds)
	return out, res
}

// setCPU fills the CPU figures of a run from the groups' CPU time and its successful requests.
func (h *harness) setCPU(out *report.Run, cpu map[string]time.Duration, ok int) {
	if ok <= 0 {
		return
	}
	out.CPUPerRequest = map[string]time.Duration{}
	for name, d := range cpu {
		if client, split := strings.CutPrefix(name, postgresPrefix); split {
			if d > 0 {
				if out.PostgresByClient == nil {
					out.PostgresByClient = map[string]time.Duration{}
				}
				out.PostgresByClient[client] = d / time.Duration(ok)
			}
			continue
		}
		if name == loadGenerator {
			continue
		}
		out.CPUTotal += d
		out.CPUPerRequest[name] = d / time.Duration(ok)
	}
}

// setOther records the load generator's CPU per request and the share of the machine that other
// work used during the run: busy time minus what the measured groups used.
func setOther(out *report.Run, cpu map[string]time.Duration, m0, m1 procstat.Machine) {
	total := m1.Total - m0.Total
	if total <= 0 {
		return
	}
	used := time.Duration(0)
	for name, d := range cpu {
		if !strings.HasPrefix(name, postgresPrefix) { // part of "postgres"
			used += d
		}
	}
	if ok := out.Requests - out.Errors; ok > 0 {
		out.LoadGenerator = cpu[loadGenerator] / time.Duration(ok)
	}
	out.OtherBusy = max(0, float64(m1.Busy-m0.Busy-used)/float64(total))
}

// limit runs a scenario's pgbench script: clients connections at full speed, or at rate.
func (h *harness) limit(ctx context.Context, key, script, searchPath string, clients int, rate float64, d time.Duration, vars map[string]string) (report.Run, error) {
	mode := ""
	if key == "search" || key == "search-short" {
		mode = "extended" // the customer service plans every search for its keyword (QueryExecModeExec)
	}
	label := fmt.Sprintf("pgbench, %d clients", clients)
	if rate > 0 {
		label = fmt.Sprintf("pgbench, %.0f/s", rate)
	}
	h.log.Info("run", "what", key+" "+label, "duration", d)
	name := key
	if rate > 0 {
		name += "-rate"
	}
	run := pgbench.Run{Binary: h.pgbench, Server: h.adminURL, DB: benchDB, SearchPath: searchPath, Script: script, Clients: clients, Threads: 2, Duration: d, Rate: rate,
		Vars: vars, Mode: mode, WorkDir: filepath.Join(h.o.work, "pgbench"), Name: name}
	m0, _ := procstat.ReadMachine()
	s := procstat.Start([]procstat.Group{{Name: "postgres", Match: procstat.PostgresFor(benchDB)}}, 200*time.Millisecond)
	res, err := run.Exec(ctx)
	cpu := s.Stop()
	m1, _ := procstat.ReadMachine()
	if err != nil {
		return report.Run{}, err
	}
	out := report.Run{
		Label:      label,
		Requests:   res.Transactions,
		Errors:     res.Failed,
		Seconds:    d.Seconds(),
		Throughput: res.TPS,
		Latency: report.Latency{P50: res.Percentile(0.50), P95: res.Percentile(0.95), P99: res.Percentile(0.99),
			Max: res.Percentile(1)},
		MachineBusy: procstat.Utilisation(m0, m1),
		Command:     res.Command,
	}
	h.setCPU(&out, cpu, res.Transactions-res.Failed)
	h.log.Info("result", "what", key+" "+label, "tps", fmt.Sprintf("%.0f", out.Throughput),
		"p50", report.MS(out.Latency.P50), "p99", report.MS(out.Latency.P99))
	return out, nil
}

// scriptParams are the values the pgbench scripts are filled with.
func (h *harness) scriptParams(ctx context.Context) scenario.ScriptParams {
	sizes := h.payloadSizes(ctx, "crm.customer.customer.created", "crm.customer.customer.updated", "crm.followup.followup.created",
		"crm.followup.customer_last_followup.changed")
	size := func(subject string, def int) int {
		if n, ok := sizes[subject]; ok {
			return n
		}
		return def
	}
	return scenario.ScriptParams{
		FirstDay:            h.layout.FirstDay.Format("2006-01-02"),
		PerDay:              h.layout.PerDay,
		Customers:           h.layout.Customers,
		Keywords:            len(h.keywords),
		KeywordTable:        "bench_keywords",
		PayloadCreated:      size("crm.customer.customer.created", 1500),
		PayloadUpdated:      size("crm.customer.customer.updated", 1500),
		PayloadFollowUp:     size("crm.followup.followup.created", 800),
		PayloadLastFollowUp: size("crm.followup.customer_last_followup.changed", 300),
	}
}

// payloadSizes is the size of the last event of each subject in the stream (none for a subject
// without events yet), so that pgbench writes outbox rows of the same size: a published event's
// data is its outbox row's payload, and the relay deletes the row once it is published.
func (h *harness) payloadSizes(ctx context.Context, subjects ...string) map[string]int {
	sizes := map[string]int{}
	js, closeNATS, err := h.jetStream()
	if err != nil {
		h.log.Warn("payload sizes: nats", "error", err)
		return sizes
	}
	defer closeNATS()
	s, err := js.Stream(ctx, "CRM_EVENTS")
	if err != nil {
		h.log.Warn("payload sizes: stream", "error", err)
		return sizes
	}
	for _, subject := range subjects {
		if m, err := s.GetLastMsgForSubject(ctx, subject); err == nil {
			sizes[subject] = len(m.Data)
		}
	}
	return sizes
}

// jetStream connects to the suite's NATS server; call the returned func to close the connection.
func (h *harness) jetStream() (jetstream.JetStream, func(), error) {
	nc, err := nats.Connect(h.suite.NATSURL)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return js, nc.Close, nil
}

// settle prepares the next run so that one scenario's tail does not slow the next: it closes the
// REST client's idle connections, waits until the suite has caught up (no outbox row pending, no
// event waiting for any consumer), merges the GIN indexes' pending lists and checkpoints.
func (h *harness) settle(ctx context.Context) {
	start := time.Now()
	// Every run starts without the REST connections an earlier run left open: after the gets at
	// 1,000/s (an open model, up to 2,000 requests in flight) the REST creates ran 720–759/s
	// instead of 852–867, every process paying more per request (docs/benchmarks.md, 2026-12-03).
	h.env.CloseIdleConnections()
	js, closeNATS, err := h.jetStream()
	if err != nil {
		h.log.Warn("settle: nats", "error", err)
		return
	}
	defer closeNATS()
	for time.Since(start) < 5*time.Minute {
		pending := h.pendingOutbox(ctx)
		backlog := h.consumerBacklog(ctx, js)
		if pending == 0 && backlog == 0 {
			break
		}
		if wait(ctx, 250*time.Millisecond) != nil {
			return
		}
	}
	if d := time.Since(start); d > time.Second {
		h.log.Info("settled", "took", d.Round(100*time.Millisecond))
	}
	// Every run starts with the GIN indexes' pending lists merged (customers has five GIN indexes):
	// otherwise the run after an insert-heavy one pays for merging what that one left, as the REST
	// creates did after the gRPC ones (docs/benchmarks.md, 2026-12-02).
	if _, err := h.pool.Exec(ctx, `SELECT gin_clean_pending_list(i.indexrelid)
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'gin'`); err != nil {
		h.log.Warn("settle: gin pending lists", "error", err)
	}
	// Every run starts from a fresh checkpoint, so that none pays for the last one's dirty pages
	// or for full-page writes after a checkpoint that happened to fall into it.
	if _, err := h.pool.Exec(ctx, "CHECKPOINT"); err != nil {
		h.log.Warn("settle: checkpoint", "error", err)
	}
	_ = wait(ctx, time.Second)
}

func (h *harness) pendingOutbox(ctx context.Context) int64 {
	var total int64
	for _, schema := range []string{"customer", "followup", "needs", "tagging", "feedback"} {
		var n int64
		if err := h.pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s.outbox WHERE published_at IS NULL`, schema)).Scan(&n); err == nil {
			total += n
		}
	}
	return total
}

func (h *harness) consumerBacklog(ctx context.Context, js jetstream.JetStream) uint64 {
	s, err := js.Stream(ctx, "CRM_EVENTS")
	if err != nil {
		return 0
	}
	var total uint64
	lister := s.ListConsumers(ctx)
	for info := range lister.Info() {
		total += info.NumPending + uint64(info.NumAckPending)
	}
	return total
}
