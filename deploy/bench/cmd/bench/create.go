package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/crmsuite/crm/deploy/bench/internal/report"
	"github.com/crmsuite/crm/deploy/bench/internal/scenario"
	"github.com/crmsuite/crm/pkg/pgdb"
)

// createRounds is how many times the create scenario's runs take turns. Run one after the other,
// 15-20 s each, its two ratios compared different minutes of the machine: on 2026-12-03 pgbench's
// create ran at 2,191 to 4,002 tps within 36 minutes, and REST ÷ gRPC read 0.66 and 0.99 in two
// runs three minutes apart. In rounds of a few seconds per run each ratio compares runs seconds
// apart, and the spread of the rounds shows how far the machine moved while they ran.
const createRounds = 3

// createRound is one turn: the suite's creates through gRPC and through REST, and pgbench's create
// transaction.
type createRound struct {
	GRPC, REST report.Run
	// Limit is the faster of pgbench's two runs in the round (8 clients, the service's pool
	// size, and 16).
	Limit report.Run
}

func (h *harness) scenarioCreate(ctx context.Context) (report.Scenario, error) {
	s := report.Scenario{Title: "Create a customer (gRPC and REST)"}
	script, err := scenario.Script("create", h.scriptParams(ctx))
	if err != nil {
		return s, err
	}
	h.warm(ctx, h.env.CreateGRPC())
	h.warm(ctx, h.env.CreateREST())
	d := h.dur(7 * time.Second)
	rounds := make([]createRound, createRounds)
	for i := range rounds {
		rd := &rounds[i]
		steps := []func() error{
			func() error {
				rd.GRPC, _ = h.measure(ctx, serviceRun{label: fmt.Sprintf("gRPC, 32 workers (max), round %d", i+1),
					workers: 32, duration: d, req: h.env.CreateGRPC()})
				return nil
			},
			func() error {
				rd.REST, _ = h.measure(ctx, serviceRun{label: fmt.Sprintf("REST, 32 workers (max), round %d", i+1),
					workers: 32, duration: d, req: h.env.CreateREST()})
				return nil
			},
			func() error {
				for j, clients := range []int{pgdb.DefaultMaxConns, 16} {
					if j > 0 {
						h.settle(ctx) // as before every run: none inherits another's GIN pending lists or dirty pages
					}
					l, err := h.limit(ctx, "create", script, "customer", clients, 0, d, scenario.Vars(time.Now().UnixNano()))
					if err != nil {
						return err
					}
					l.Label += fmt.Sprintf(", round %d", i+1)
					s.Limit = append(s.Limit, l)
					if l.Throughput > rd.Limit.Throughput {
						rd.Limit = l
					}
				}
				return nil
			},
		}
		// Each round starts with another of the three, so that none always follows the same one.
		for k := range steps {
			h.settle(ctx)
			if err := steps[(i+k)%len(steps)](); err != nil {
				return s, err
			}
		}
	}
	for _, rd := range rounds {
		s.Service = append(s.Service, rd.GRPC)
	}
	for _, rd := range rounds {
		s.Service = append(s.Service, rd.REST)
	}
	h.createRounds = rounds

	grpcVsLimit, restVsGRPC := createRatios(rounds)
	restVsLimit := eachRound(rounds, func(rd createRound) float64 { return ratio(rd.REST.Throughput, rd.Limit.Throughput) })
	s.Ratios = []report.Ratio{
		{What: roundsText("gRPC req/s ÷ best pgbench tps (target ≥ 0.5)", grpcVsLimit), Value: median(grpcVsLimit)},
		{What: roundsText("REST req/s ÷ gRPC req/s (target ≥ 0.7)", restVsGRPC), Value: median(restVsGRPC)},
		{What: roundsText("REST req/s ÷ best pgbench tps", restVsLimit), Value: median(restVsLimit)},
	}

	// The same transaction at the gRPC runs' rate. PostgreSQL spends more per transaction at a
	// lower rate (fewer commits share a WAL flush, backends sleep and wake more often per
	// transaction): all its processes together 0.88-0.92 ms per create at 1,100/s against
	// 0.60-0.68 ms at full speed, on 2026-12-03. So the service's transaction is also compared
	// with pgbench's at the rate the service ran it.
	rate := median(eachRound(rounds, func(rd createRound) float64 { return rd.GRPC.Throughput }))
	if rate >= 1 {
		l, err := h.limit(ctx, "create", script, "customer", pgdb.DefaultMaxConns, math.Round(rate), h.dur(15*time.Second),
			scenario.Vars(time.Now().UnixNano()))
		if err != nil {
			return s, err
		}
		s.Limit = append(s.Limit, l)
		s.Ratios = append(s.Ratios, report.Ratio{
			What:  "the customer service's PostgreSQL CPU per gRPC create (all rounds) ÷ pgbench's at the median round's rate",
			Value: durRatio(postgresPerRequest(rounds, "customer"), l.CPUPerRequest["postgres"])})
	}
	s.Notes = []string{"A sales rep creates enterprise customers with a request id (idempotent create), each with a new name " +
		"and mobile: validation, duplicate check under advisory locks, insert, outbox event, all in one transaction; the " +
		"relay publishes each event, and the audit service (which also republishes it masked for analytics) and tagging's " +
		"customer projection consume it while the run goes on (their CPU is in CPU/req). pgbench runs the create transaction itself, at 8 clients (the service's pool size) and 16, " +
		"and at the gRPC runs' median rate with 8 clients, to show what the transaction costs the database at the rate the " +
		fmt.Sprintf("service ran it. The gRPC, REST and pgbench runs take turns, %d rounds of %.0f s each, each round starting ", createRounds, d.Seconds()) +
		"with another of them, with the suite settled before each run; a ratio is the median of the rounds' ratios, each " +
		"comparing runs seconds apart (the machine's speed moves between minutes)."}
	return s, nil
}

// createRatios are each round's gRPC ÷ pgbench and REST ÷ gRPC throughput ratios.
func createRatios(rounds []createRound) (grpcVsLimit, restVsGRPC []float64) {
	grpcVsLimit = eachRound(rounds, func(rd createRound) float64 { return ratio(rd.GRPC.Throughput, rd.Limit.Throughput) })
	restVsGRPC = eachRound(rounds, func(rd createRound) float64 { return ratio(rd.REST.Throughput, rd.GRPC.Throughput) })
	return grpcVsLimit, restVsGRPC
}

func eachRound(rounds []createRound, f func(createRound) float64) []float64 {
	out := make([]float64, len(rounds))
	for i, rd := range rounds {
		out[i] = f(rd)
	}
	return out
}

// median is the middle value (the mean of the two middle ones for an even count), 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// roundsText names a median ratio and lists the rounds' values it is the median of.
func roundsText(what string, each []float64) string {
	parts := make([]string, len(each))
	for i, v := range each {
		parts[i] = fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%s, median of %d rounds (%s)", what, len(each), strings.Join(parts, ", "))
}

// postgresPerRequest is a client's PostgreSQL CPU per successful gRPC create over all rounds.
func postgresPerRequest(rounds []createRound, client string) time.Duration {
	var cpu time.Duration
	var ok int
	for _, rd := range rounds {
		n := rd.GRPC.Requests - rd.GRPC.Errors
		cpu += rd.GRPC.PostgresByClient[client] * time.Duration(n)
		ok += n
	}
	if ok == 0 {
		return 0
	}
	return cpu / time.Duration(ok)
}

// createTargets checks the two create targets against the rounds: each is met when the median of
// the rounds' ratios is.
func createTargets(rounds []createRound) []report.Target {
	if len(rounds) == 0 {
		return nil
	}
	grpcVsLimit, restVsGRPC := createRatios(rounds)
	var runs []report.Run
	for _, rd := range rounds {
		runs = append(runs, rd.GRPC, rd.REST)
	}
	rangeOf := func(f func(createRound) float64) string {
		v := eachRound(rounds, f)
		return fmt.Sprintf("%.0f–%.0f", slices.Min(v), slices.Max(v))
	}
	grpc := rangeOf(func(rd createRound) float64 { return rd.GRPC.Throughput })
	m := median(grpcVsLimit)
	t := []report.Target{{Text: "create through gRPC ≥ ½ of pgbench's rate for the same transaction",
		Measured: fmt.Sprintf("%.2f, median of %d rounds (%.2f–%.2f): gRPC %s/s, pgbench %s tps", m, len(rounds),
			slices.Min(grpcVsLimit), slices.Max(grpcVsLimit), grpc,
			rangeOf(func(rd createRound) float64 { return rd.Limit.Throughput })) + steal(runs...),
		Met: m >= 0.5}}
	m = median(restVsGRPC)
	t = append(t, report.Target{Text: "create through REST within 30% of gRPC",
		Measured: fmt.Sprintf("%.2f, median of %d rounds (%.2f–%.2f): REST %s/s, gRPC %s/s", m, len(rounds),
			slices.Min(restVsGRPC), slices.Max(restVsGRPC), rangeOf(func(rd createRound) float64 { return rd.REST.Throughput }), grpc) +
			steal(runs...),
		Met: m >= 0.7})
	return t
}
