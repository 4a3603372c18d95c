package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Defaults of RelayConfig.
const (
	DefaultBatchSize      = 100
	DefaultRoundInterval  = 20 * time.Millisecond
	DefaultPollInterval   = time.Second
	DefaultPublishTimeout = 5 * time.Second
)

// Retry delays after a failed round (NATS or PostgreSQL unavailable), doubling up to the cap.
const (
	retryStart = 100 * time.Millisecond
	retryMax   = 5 * time.Second
)

// dbTimeout bounds the SQL of one round beyond the publish wait, so a hung database cannot hold the
// rows' locks forever.
const dbTimeout = 30 * time.Second

// markedCleanupInterval is how often the relay deletes rows that relays of earlier versions marked
// published instead of deleting them (see cleanupMarked).
const markedCleanupInterval = 10 * time.Minute

// deleteBatch is how many marked rows one cleanup statement deletes, keeping each short.
const deleteBatch = 5000

// meterName is the OpenTelemetry instrumentation scope of the relay's metrics.
const meterName = "crm/outbox"

// RelayConfig configures a Relay.
type RelayConfig struct {
	// Schema is the service's schema holding the outbox table.
	Schema string
	// BatchSize is the most rows one round publishes; default 100.
	BatchSize int
	// Commits wakes the relay when its process commits outbox rows (install it on the pool, see
	// Commits); nil leaves the relay to poll. One Commits per relay.
	Commits *Commits
	// RoundInterval is the least time from the start of a round to the start of the next one
	// that a commit wakes; default DefaultRoundInterval, negative for none. Under a stream of
	// writes the relay publishes them in fewer, larger rounds (each a transaction and a commit,
	// the bulk of a small round's cost) instead of one round per commit, at the price of at most
	// this much latency. A write after a quiet interval is published at once, and a backlog (full
	// rounds) without pause.
	RoundInterval time.Duration
	// PollInterval is how often the relay looks for rows without being woken: rows written by
	// other processes or by a connection without Commits; default 1s.
	PollInterval time.Duration
	// PublishTimeout is how long a round waits for the JetStream acks of its batch; default 5s.
	PublishTimeout time.Duration
}

// Relay publishes the outbox rows of one schema to JetStream. Several relays (replicas of a
// service) may run on the same table: each round locks its rows with SKIP LOCKED.
type Relay struct {
	pool *pgxpool.Pool
	js   jetstream.JetStream
	cfg  RelayConfig
	log  *slog.Logger

	table string // schema-qualified, quoted
	attrs metric.MeasurementOption

	published metric.Int64Counter
	failed    metric.Int64Counter
	pending   metric.Int64ObservableGauge
}

// NewRelay returns a relay for the outbox table in cfg.Schema that publishes with js. Zero fields
// of cfg take their defaults; Run reports an invalid cfg.
func NewRelay(pool *pgxpool.Pool, js jetstream.JetStream, cfg RelayConfig, log *slog.Logger) *Relay {
	if cfg.BatchSize == 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.RoundInterval == 0 {
		cfg.RoundInterval = DefaultRoundInterval
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.PublishTimeout == 0 {
		cfg.PublishTimeout = DefaultPublishTimeout
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Relay{
		pool:  pool,
		js:    js,
		cfg:   cfg,
		log:   log.With(slog.String("outbox", cfg.Schema)),
		table: pgx.Identifier{cfg.Schema, "outbox"}.Sanitize(),
		attrs: metric.WithAttributes(attribute.String("db.namespace", cfg.Schema)),
	}
	// The API hands back working no-op instruments along with an error, so metrics never stop
	// the relay; the error is only logged.
	meter := otel.GetMeterProvider().Meter(meterName)
	var errs []error
	var err error
	r.published, err = meter.Int64Counter("crm.outbox.published",
		metric.WithDescription("Outbox events published to JetStream and acknowledged."), metric.WithUnit("{event}"))
	errs = append(errs, err)
	r.failed, err = meter.Int64Counter("crm.outbox.publish_failures",
		metric.WithDescription("Outbox events whose publish failed or timed out (retried)."), metric.WithUnit("{event}"))
	errs = append(errs, err)
	r.pending, err = meter.Int64ObservableGauge("crm.outbox.pending",
		metric.WithDescription("Outbox events not yet published."), metric.WithUnit("{event}"))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		r.log.Warn("outbox: metrics unavailable", slog.String("error", err.Error()))
	}
	return r
}

func (r *Relay) validate() error {
	if err := pgdb.ValidSchema(r.cfg.Schema); err != nil {
		return err
	}
	switch {
	case r.cfg.BatchSize < 1:
		return fmt.Errorf("batch size must be ≥ 1, got %d", r.cfg.BatchSize)
	case r.cfg.PollInterval <= 0, r.cfg.PublishTimeout <= 0:
		return errors.New("poll interval and publish timeout must be positive")
	}
	return nil
}

// Run publishes pending rows until ctx is done, then returns ctx.Err(); it returns earlier only for
// an invalid configuration. It runs a round at start, whenever Commits signals, and every
// PollInterval. While NATS or PostgreSQL is unavailable it retries with back-off (capped at 5s)
// and rows stay pending. A round that has started when ctx is cancelled finishes, so acknowledged
// rows are deleted.
func (r *Relay) Run(ctx context.Context) error {
	if err := r.validate(); err != nil {
		return fmt.Errorf("outbox: relay: %w", err)
	}
	reg, err := otel.GetMeterProvider().Meter(meterName).RegisterCallback(r.observePending, r.pending)
	if err != nil {
		r.log.Warn("outbox: pending gauge unavailable", slog.String("error", err.Error()))
	} else {
		defer func() { _ = reg.Unregister() }()
	}

	var wake <-chan struct{} // nil: never ready
	if r.cfg.Commits != nil {
		wake = r.cfg.Commits.c
	}
	// Go ≥ 1.23 timers: Reset and Stop need no draining of timer.C.
	timer := time.NewTimer(r.cfg.PollInterval)
	defer timer.Stop()
	failures := 0
	var nextCleanup time.Time // at the first round
	var started time.Time
	for {
		started = time.Now()
		wait := r.cfg.PollInterval
		n, err := r.round(ctx)
		switch {
		case err != nil:
			failures++
			wait = min(retryStart<<min(failures-1, 10), retryMax)
			r.log.LogAttrs(ctx, slog.LevelWarn, "outbox: publish round failed, retrying",
				slog.Int("failures", failures), slog.Duration("retry_in", wait), slog.String("error", err.Error()))
		case n == r.cfg.BatchSize:
			failures = 0
			wait = 0 // probably more waiting
		default:
			failures = 0
		}
		if time.Now().After(nextCleanup) {
			if err := r.cleanupMarked(ctx); err != nil && ctx.Err() == nil {
				r.log.LogAttrs(ctx, slog.LevelWarn, "outbox: deleting marked rows failed", slog.String("error", err.Error()))
			}
			nextCleanup = time.Now().Add(markedCleanupInterval)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if wait == 0 {
			continue
		}
		// After a failure only the back-off timer wakes us: every committed write signals, and
		// answering each while NATS is down would spin.
		wakeCh := wake
		if failures > 0 {
			wakeCh = nil
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		case <-wakeCh:
			timer.Stop()
			// A commit soon after the last round: let the writes of the rest of the interval
			// join the next round. (A backlog is drained without pause, above.)
			if rest := r.cfg.RoundInterval - time.Since(started); rest > 0 {
				timer.Reset(rest)
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-timer.C:
				}
			}
		}
	}
}

// row is one pending outbox row.
type row struct {
	id      int64
	eventID string
	subject string
	payload []byte
}

// errNotConnected marks a round skipped because the NATS connection is down; publishing would
// only fill nats.go's reconnect buffer.
var errNotConnected = errors.New("nats: not connected")

// round publishes one batch of pending rows in one transaction and returns how many it published.
// Its error reports rows that were not published (they stay pending) or a database failure. It
// takes two round trips: BEGIN with the locking SELECT, and the deletes with COMMIT.
func (r *Relay) round(ctx context.Context) (published int, err error) {
	// Not ctx: once rows are published, deleting them must not be cut short by a shutdown.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.PublishTimeout+dbTimeout)
	defer cancel()
	var failed []int64
	var errs []string
	err = pgdb.InBatchTx(rctx, r.pool, func(conn *pgxpool.Conn) error {
		b := pgdb.TxBatch()
		b.Queue(`SELECT id, event_id::text, subject, payload FROM `+r.table+`
			WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, r.cfg.BatchSize)
		var batch []row
		if err := pgdb.SendBatch(rctx, conn, b, func(br pgx.BatchResults) (err error) {
			batch, err = readPending(br)
			return err
		}); err != nil || len(batch) == 0 {
			return err // InBatchTx rolls back
		}

		var ok []int64
		ok, failed, errs = r.publish(batch)
		published = len(ok)
		b = &pgx.Batch{}
		// A delete lost in a crash only publishes its rows again, which the stream's duplicate
		// window drops (and consumers are idempotent): no need to wait for the WAL flush.
		b.Queue(`SET LOCAL synchronous_commit = off`)
		steps := []string{"set synchronous_commit"}
		if len(ok) > 0 {
			// Deleted, not marked: marking rewrote each row (about 1 KB of payload) with three
			// index entries; a delete writes a few bytes per row. The stream and the audit
			// service keep the events.
			b.Queue(`DELETE FROM `+r.table+` WHERE id = ANY($1)`, ok)
			steps = append(steps, "delete published")
		}
		if len(failed) > 0 {
			b.Queue(`UPDATE `+r.table+` AS o SET attempts = o.attempts + 1, last_error = f.err
				FROM unnest($1::bigint[], $2::text[]) AS f(id, err) WHERE o.id = f.id`, failed, errs)
			steps = append(steps, "record failures")
		}
		// A failed commit leaves the published rows in place: they go out again next round and
		// the duplicate window drops the copies.
		return pgdb.SendCommit(rctx, conn, b, steps...)
	})
	if err != nil {
		return 0, err
	}
	r.published.Add(rctx, int64(published), r.attrs)
	if len(failed) > 0 {
		r.failed.Add(rctx, int64(len(failed)), r.attrs)
		return published, fmt.Errorf("%d of %d events not published, first: %s", len(failed), published+len(failed), errs[0])
	}
	return published, nil
}

// readPending reads the results of round's first batch: BEGIN and the pending rows it locked.
func readPending(br pgx.BatchResults) ([]row, error) {
	if _, err := br.Exec(); err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("select pending: %w", err)
	}
	batch, err := pgx.CollectRows(rows, func(cr pgx.CollectableRow) (row, error) {
		var x row
		err := cr.Scan(&x.id, &x.eventID, &x.subject, &x.payload)
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("select pending: %w", err)
	}
	return batch, nil
}

// publish sends the whole batch asynchronously, in id order, then waits up to PublishTimeout for
// the acks. It returns the ids of acknowledged rows and of failed ones with their errors.
func (r *Relay) publish(batch []row) (ok, failed []int64, errs []string) {
	fail := func(id int64, err error) {
		failed = append(failed, id)
		errs = append(errs, err.Error())
	}
	if nc := r.js.Conn(); nc == nil || !nc.IsConnected() {
		for _, x := range batch {
			fail(x.id, errNotConnected)
		}
		return ok, failed, errs
	}
	futures := make([]jetstream.PubAckFuture, len(batch))
	for i, x := range batch {
		msg, err := message(x)
		if err != nil {
			fail(x.id, err)
			continue
		}
		if futures[i], err = r.js.PublishMsgAsync(msg, jetstream.WithExpectStream(events.StreamName)); err != nil {
			fail(x.id, fmt.Errorf("publish: %w", err))
		}
	}
	deadline := time.NewTimer(r.cfg.PublishTimeout)
	defer deadline.Stop()
	expired := false
	for i, f := range futures {
		if f == nil {
			continue
		}
		id := batch[i].id
		if !expired {
			select {
			case <-f.Ok():
				ok = append(ok, id)
			case err := <-f.Err():
				fail(id, fmt.Errorf("publish: %w", err))
			case <-deadline.C:
				expired = true
			}
			if !expired {
				continue
			}
		}
		// Past the deadline: take what has arrived, count the rest as failed.
		select {
		case <-f.Ok():
			ok = append(ok, id)
		case err := <-f.Err():
			fail(id, fmt.Errorf("publish: %w", err))
		default:
			fail(id, fmt.Errorf("publish: no ack within %s", r.cfg.PublishTimeout))
		}
	}
	return ok, failed, errs
}

// message rebuilds the NATS message of a row: headers from the decoded event, the stored bytes
// as data, so what is published is exactly what was committed.
func message(x row) (*nats.Msg, error) {
	msg, err := events.DecodeMessage(x.payload)
	if err != nil {
		return nil, fmt.Errorf("row %d: %w", x.id, err)
	}
	msg.Subject = x.subject
	return msg, nil
}

// cleanupMarked deletes rows marked published (published_at set), a bounded batch per statement.
// Relays of earlier versions marked rows instead of deleting them and kept them for a day; their
// rows, and those a replica of such a version marks during a rolling upgrade, would otherwise stay.
func (r *Relay) cleanupMarked(ctx context.Context) error {
	for {
		tag, err := r.pool.Exec(ctx, `DELETE FROM `+r.table+` WHERE id IN (
			SELECT id FROM `+r.table+` WHERE published_at IS NOT NULL LIMIT $1)`, deleteBatch)
		if err != nil {
			return fmt.Errorf("delete marked: %w", err)
		}
		if tag.RowsAffected() < deleteBatch {
			return nil
		}
	}
}

// Pending returns the number of rows not yet published, for readiness, metrics and tests.
func (r *Relay) Pending(ctx context.Context) (int64, error) {
	var n int64
	if err := r.pool.QueryRow(ctx, `SELECT count(*) FROM `+r.table+` WHERE published_at IS NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("outbox: pending: %w", err)
	}
	return n, nil
}

// observePending reports the pending gauge when metrics are collected.
func (r *Relay) observePending(ctx context.Context, o metric.Observer) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	n, err := r.Pending(ctx)
	if err != nil {
		return err
	}
	o.ObserveInt64(r.pending, n, r.attrs)
	return nil
}
