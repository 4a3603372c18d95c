package main

import (
	"context"
	"fmt"
	"time"

	"github.com/crmsuite/crm/deploy/bench/internal/report"
	"github.com/crmsuite/crm/deploy/bench/internal/scenario"
)

// lagFigures is the event lag of the creates of one run.
type lagFigures struct {
	Events   int
	Expected int
	Lat      report.Latency
	Drained  time.Duration // from the end of the load until the last event was audited
}

// scenarioLag creates customers at a fixed rate and measures, for each, the time from its commit
// (the event's time, taken in the create's transaction just before it commits) to the audit
// service's record of it (record_time, the start of the audit transaction that appends it).
func (h *harness) scenarioLag(ctx context.Context) (report.Scenario, error) {
	s := report.Scenario{Title: "Event lag from commit to audit record under load"}
	h.warm(ctx, h.env.CreateGRPC())
	for _, rate := range h.o.lagRates {
		h.settle(ctx)
		start := time.Now()
		run, res := h.measure(ctx, serviceRun{label: fmt.Sprintf("gRPC creates, open %.0f/s", rate), rate: rate, workers: 2000,
			duration: h.dur(30 * time.Second), req: h.env.CreateGRPC()})
		end := time.Now()
		lag, err := h.lag(ctx, start, end, res.Requests-res.Errors)
		if err != nil {
			return s, err
		}
		s.Service = append(s.Service, run)
		s.Service = append(s.Service, report.Run{
			Label:    fmt.Sprintf("event lag at %.0f creates/s (commit → audit record)", rate),
			Requests: lag.Events, Errors: max(0, lag.Expected-lag.Events), Seconds: run.Seconds,
			Throughput: float64(lag.Events) / run.Seconds, Latency: lag.Lat,
		})
		s.Notes = append(s.Notes, fmt.Sprintf("At %.0f/s: %d events audited for %d creates answered OK (creates the client gave "+
			"up on may still have committed, and are audited too); the last one %s after the load ended; %d of the creates "+
			"started late (client-side queue: the service was not keeping up).",
			rate, lag.Events, lag.Expected, lag.Drained.Round(10*time.Millisecond), res.Late))
		h.figures[fmt.Sprintf("lag-%.0f", rate)] = s.Service[len(s.Service)-1]
		h.figures[fmt.Sprintf("lag-create-%.0f", rate)] = run
	}
	s.Notes = append(s.Notes, "Lag is `record_time − event_time` of the audit records of the run's creates: the event's time "+
		"is taken in the create's transaction just before its commit, the record's time at the start of the audit "+
		"service's append transaction, both by this machine's clock. The path: outbox row → commit seen by the relay's tracer in the same process → relay → "+
		"JetStream (publish, ack) → audit's pull consumer → hash-chained append.")
	return s, nil
}

// lag waits until every create of the window is audited (or two minutes pass) and returns the
// lag percentiles.
func (h *harness) lag(ctx context.Context, start, end time.Time, expected int) (lagFigures, error) {
	f := lagFigures{Expected: expected}
	deadline := time.Now().Add(2 * time.Minute)
	count := func() int {
		var n int
		_ = h.pool.QueryRow(ctx, `SELECT count(*) FROM audit.audit_events WHERE event_type = 'customer.created'
			AND actor_id = $1 AND event_time BETWEEN $2 AND $3`, scenario.SalesRep, start, end).Scan(&n)
		return n
	}
	for count() < expected && time.Now().Before(deadline) {
		if err := wait(ctx, 100*time.Millisecond); err != nil {
			return f, err
		}
	}
	var us [4]int64
	err := h.pool.QueryRow(ctx, `WITH l AS (
			SELECT (extract(epoch FROM record_time - event_time) * 1e6)::bigint AS us FROM audit.audit_events
			WHERE event_type = 'customer.created' AND actor_id = $1 AND event_time BETWEEN $2 AND $3)
		SELECT count(*), coalesce(percentile_disc(0.50) WITHIN GROUP (ORDER BY us), 0),
			coalesce(percentile_disc(0.95) WITHIN GROUP (ORDER BY us), 0),
			coalesce(percentile_disc(0.99) WITHIN GROUP (ORDER BY us), 0), coalesce(max(us), 0) FROM l`,
		scenario.SalesRep, start, end).Scan(&f.Events, &us[0], &us[1], &us[2], &us[3])
	if err != nil {
		return f, fmt.Errorf("lag: %w", err)
	}
	f.Lat = report.Latency{P50: time.Duration(us[0]) * time.Microsecond, P95: time.Duration(us[1]) * time.Microsecond,
		P99: time.Duration(us[2]) * time.Microsecond, Max: time.Duration(us[3]) * time.Microsecond}
	var last time.Time
	if err := h.pool.QueryRow(ctx, `SELECT coalesce(max(record_time), $2) FROM audit.audit_events
		WHERE event_type = 'customer.created' AND actor_id = $1 AND event_time BETWEEN $2 AND $3`,
		scenario.SalesRep, start, end).Scan(&last); err == nil && last.After(end) {
		f.Drained = last.Sub(end)
	}
	return f, nil
}
