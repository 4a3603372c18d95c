package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/outbox"
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/testkit"
	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const schema = "svc"

// database returns a pool on a fresh database with the outbox migrated into schema svc, and the
// Commits installed on it, as a service's.
func database(tb testing.TB) (*pgxpool.Pool, *outbox.Commits) {
	tb.Helper()
	ctx := context.Background()
	commits := outbox.NewCommits()
	pool, err := pgdb.Connect(ctx, testkit.NewDatabase(tb), schema, commits)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	if err := pgdb.Migrate(ctx, pool, schema, "outbox", outbox.Migrations); err != nil {
		tb.Fatal(err)
	}
	return pool, commits
}

// connect connects to a NATS server the way services do (never giving up) and ensures the stream.
func connect(tb testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect(url, nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1),
		nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(30*time.Second))
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := events.EnsureStream(ctx, js, 1); err != nil {
		tb.Fatal(err)
	}
	return nc, js
}

// run starts a relay in the background until the test ends; the test fails if Run returns
// anything but context.Canceled.
func run(tb testing.TB, r *outbox.Relay) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				tb.Errorf("Run returned %v, want context.Canceled", err)
			}
		case <-time.After(45 * time.Second):
			tb.Error("Run did not return after cancel")
		}
	})
}

func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, nil))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func newEvent(tb testing.TB, i int) *eventsv1.Event {
	tb.Helper()
	ev, err := events.New(context.Background(), "customer", "customer", "created", fmt.Sprintf("CUST-20261123-%04d", i),
		&commonv1.Actor{UserId: "u-1", Role: "sales"}, 1, wrapperspb.String("body"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	return ev
}

// addCommitted adds n events, each in its own committed transaction, and returns their ids.
func addCommitted(tb testing.TB, pool *pgxpool.Pool, n int) []string {
	tb.Helper()
	var ids []string
	for i := range n {
		ev := newEvent(tb, i)
		if err := pgdb.InTx(context.Background(), pool, func(tx pgx.Tx) error {
			return outbox.Add(context.Background(), tx, ev)
		}); err != nil {
			tb.Fatalf("add event %d: %v", i, err)
		}
		ids = append(ids, ev.GetId())
	}
	return ids
}

// streamMsgs returns the messages stored in the stream, in stream order.
func streamMsgs(tb testing.TB, js jetstream.JetStream) []*jetstream.RawStreamMsg {
	tb.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, events.StreamName)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var msgs []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			tb.Fatalf("get msg %d: %v", seq, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// streamIDs returns how often each event id is stored in the stream.
func streamIDs(tb testing.TB, js jetstream.JetStream) map[string]int {
	tb.Helper()
	ids := map[string]int{}
	for _, m := range streamMsgs(tb, js) {
		ev, err := events.Decode(m.Data)
		if err != nil {
			tb.Fatalf("msg %d: %v", m.Sequence, err)
		}
		ids[ev.GetId()]++
	}
	return ids
}

// streamTimes returns when each message of the stream was stored, in stream order.
func streamTimes(tb testing.TB, js jetstream.JetStream) []time.Time {
	tb.Helper()
	var times []time.Time
	for _, m := range streamMsgs(tb, js) {
		times = append(times, m.Time)
	}
	return times
}

// rowCount is the number of rows in the outbox table, pending or not.
func rowCount(tb testing.TB, pool *pgxpool.Pool) int {
	tb.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM outbox`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func streamCount(tb testing.TB, js jetstream.JetStream) uint64 {
	tb.Helper()
	s, err := js.Stream(context.Background(), events.StreamName)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return info.State.Msgs
}

// checkExactlyOnce fails unless the stream holds each of want exactly once and nothing else.
func checkExactlyOnce(tb testing.TB, js jetstream.JetStream, want []string) {
	tb.Helper()
	got := streamIDs(tb, js)
	missing, dup := 0, 0
	for _, id := range want {
		switch got[id] {
		case 0:
			missing++
		case 1:
		default:
			dup++
		}
		delete(got, id)
	}
	if missing > 0 || dup > 0 || len(got) > 0 {
		tb.Errorf("stream: %d of %d events missing, %d duplicated, %d unexpected", missing, len(want), dup, len(got))
	}
}

func pending(tb testing.TB, r *outbox.Relay) int64 {
	tb.Helper()
	n, err := r.Pending(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func eventually(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRelayPublishesCommittedNeverRolledBack(t *testing.T) {
	t.Parallel()
	pool, commits := database(t)
	_, js := connect(t, testkit.StartNATS(t))
	// Polling once an hour: only Commits can make this test pass in time.
	r := outbox.NewRelay(pool, js, outbox.RelayConfig{Schema: schema, Commits: commits, PollInterval: time.Hour}, testLogger(t))
	run(t, r)
	time.Sleep(200 * time.Millisecond) // let the relay's first round happen

	committed := addCommitted(t, pool, 10)
	rolledBack := newEvent(t, 99)
	errBusiness := errors.New("business rule failed")
	err := pgdb.InTx(context.Background(), pool, func(tx pgx.Tx) error {
		if err := outbox.Add(context.Background(), tx, rolledBack); err != nil {
			return err
		}
		return errBusiness
	})
	if !errors.Is(err, errBusiness) {
		t.Fatalf("InTx = %v", err)
	}

	eventually(t, 5*time.Second, "committed events in the stream", func() bool {
		return streamCount(t, js) >= uint64(len(committed)) && pending(t, r) == 0
	})
	time.Sleep(300 * time.Millisecond)
	checkExactlyOnce(t, js, committed)

	// Published rows are deleted, not kept.
	if n := rowCount(t, pool); n != 0 {
		t.Errorf("outbox holds %d rows after publishing, want none", n)
	}

	// The stored message carries the CloudEvents headers.
	s, err := js.Stream(context.Background(), events.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(context.Background(), "crm.customer.customer.created")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"Nats-Msg-Id", "ce-id", "ce-type", "ce-source", "ce-time", "ce-specversion", "content-type"} {
		if m.Header.Get(h) == "" {
			t.Errorf("published message lacks header %s", h)
		}
	}
}

// TestQueuedEventsFollowTheirTransaction: an event queued in a batch is published when the batch's
// transaction commits, and not when it rolls back.
func TestQueuedEventsFollowTheirTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, commits := database(t)
	_, js := connect(t, testkit.StartNATS(t))
	r := outbox.NewRelay(pool, js, outbox.RelayConfig{Schema: schema, Commits: commits, PollInterval: time.Hour}, testLogger(t))
	run(t, r)
	time.Sleep(200 * time.Millisecond) // let the relay's first round happen

	send := func(ev *eventsv1.Event, commit bool) {
		t.Helper()
		b := &pgx.Batch{}
		b.BeginTx(pgx.TxOptions{})
		if err := outbox.Queue(b, ev); err != nil {
			t.Fatal(err)
		}
		br := pool.SendBatch(ctx, b)
		tx := br.Tx()
		defer func() { _ = tx.Rollback(ctx) }()
		for range 2 { // BEGIN, the outbox row
			if _, err := br.Exec(); err != nil {
				t.Fatal(err)
			}
		}
		if err := br.Close(); err != nil {
			t.Fatal(err)
		}
		if commit {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	committed, rolledBack := newEvent(t, 1), newEvent(t, 2)
	send(rolledBack, false)
	send(committed, true)

	eventually(t, 5*time.Second, "the committed event in the stream", func() bool {
		return streamCount(t, js) >= 1 && pending(t, r) == 0
	})
	time.Sleep(300 * time.Millisecond)
	checkExactlyOnce(t, js, []string{committed.GetId()})
}

func TestRelayRepublishIsDeduplicated(t *testing.T) {
	t.Parallel()
	pool, commits := database(t)
	_, js := connect(t, testkit.StartNATS(t))
	ids := addCommitted(t, pool, 20)
	if _, err := pool.Exec(context.Background(), `CREATE TABLE saved AS SELECT * FROM outbox`); err != nil {
		t.Fatal(err)
	}
	r := outbox.NewRelay(pool, js, outbox.RelayConfig{Schema: schema, Commits: commits, PollInterval: 50 * time.Millisecond}, testLogger(t))
	run(t, r)
	eventually(t, 5*time.Second, "all published", func() bool { return pending(t, r) == 0 })

	// A crash between publish and commit: the rows are still there.
	if _, err := pool.Exec(context.Background(), `INSERT INTO outbox SELECT * FROM saved`); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "all re-published", func() bool { return pending(t, r) == 0 })
	checkExactlyOnce(t, js, ids)
}

func TestRelaySurvivesNATSOutage(t *testing.T) {
	t.Parallel()
	pool, commits := database(t)
	dir := t.TempDir()
	srv := testkit.StartNATSAt(t, 0, dir)
	port := srv.Addr().(*net.TCPAddr).Port
	nc, js := connect(t, srv.ClientURL())
	r := outbox.NewRelay(pool, js, outbox.RelayConfig{Schema: schema, Commits: commits, PollInterval: 50 * time.Millisecond}, testLogger(t))
	run(t, r)

	srv.Shutdown()
	srv.WaitForShutdown()
	eventually(t, 5*time.Second, "the client to notice the outage", func() bool { return !nc.IsConnected() })

	ids := addCommitted(t, pool, 50) // writes keep working
	time.Sleep(500 * time.Millisecond)
	if n := pending(t, r); n != 50 {
		t.Fatalf("pending = %d during the outage, want 50", n)
	}
	var failedAttempts int
	if err := pool.QueryRow(context.Background(),
		`SELECT count(*) FROM outbox WHERE attempts > 0 AND last_error <> ''`).Scan(&failedAttempts); err != nil {
		t.Fatal(err)
	}
	if failedAttempts == 0 {
		t.Error("no failed attempt recorded during the outage")
	}

	testkit.StartNATSAt(t, port, dir)
	eventually(t, 30*time.Second, "the backlog published", func() bool { return pending(t, r) == 0 })
	checkExactlyOnce(t, js, ids)
}

func TestTwoRelaysPublishEachRowOnce(t *testing.T) {
	t.Parallel()
	pool, commits := database(t)
	url := testkit.StartNATS(t)
	_, js1 := connect(t, url)
	_, js2 := connect(t, url)
	ids := addCommitted(t, pool, 200)
	// r1 is woken by the writes, r2 only polls, as a replica in another process would.
	cfg := outbox.RelayConfig{Schema: schema, BatchSize: 7, PollInterval: 50 * time.Millisecond}
	r2 := outbox.NewRelay(pool, js2, cfg, testLogger(t))
	cfg.Commits = commits
	r1 := outbox.NewRelay(pool, js1, cfg, testLogger(t))
	run(t, r1)
	run(t, r2)

	// More rows while both run, from concurrent writers.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			more := addCommitted(t, pool, 50)
			mu.Lock()
			ids = append(ids, more...)
			mu.Unlock()
		})
	}
	wg.Wait()
	eventually(t, 20*time.Second, "all published", func() bool {
		return pending(t, r1) == 0 && streamCount(t, js1) >= uint64(len(ids))
	})
	time.Sleep(300 * time.Millisecond)
	checkExactlyOnce(t, js1, ids)
	if n := rowCount(t, pool); n != 0 {
		t.Errorf("%d rows left in the outbox", n)
	}
}

// TestRelayDeletesRowsMarkedByEarlierVersions: rows that a relay of an earlier version marked
// published (and kept) are deleted without being published again; pending ones are published.
func TestRelayDeletesRowsMarkedByEarlierVersions(t *testing.T) {
	t.Parallel()
	pool, commits := database(t)
	_, js := connect(t, testkit.StartNATS(t))
	addCommitted(t, pool, 5)
	if _, err := pool.Exec(context.Background(), `UPDATE outbox SET published_at = now() - interval '1 hour', attempts = 1`); err != nil {
		t.Fatal(err)
	}
	ids := addCommitted(t, pool, 3)
	r := outbox.NewRelay(pool, js, outbox.RelayConfig{Schema: schema, Commits: commits, PollInterval: 50 * time.Millisecond}, testLogger(t))
	run(t, r)
	eventually(t, 10*time.Second, "the outbox emptied", func() bool { return rowCount(t, pool) == 0 })
	checkExactlyOnce(t, js, ids)
}

func TestAddRejectsBadEvents(t *testing.T) {
	t.Parallel()
	pool, _ := database(t)
	tests := map[string]*eventsv1.Event{
		"incomplete":  {Id: "x"},
		"id not uuid": {Id: "not-a-uuid", Type: "customer.created", Source: "customer", Subject: "C1"},
	}
	for name, ev := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := pgdb.InTx(context.Background(), pool, func(tx pgx.Tx) error { return outbox.Add(context.Background(), tx, ev) })
			if err == nil {
				t.Error("Add succeeded, want an error")
			}
		})
	}
	t.Run("same event twice", func(t *testing.T) {
		t.Parallel()
		ev := newEvent(t, 1)
		err := pgdb.InTx(context.Background(), pool, func(tx pgx.Tx) error {
			if err := outbox.Add(context.Background(), tx, ev); err != nil {
				return err
			}
			return outbox.Add(context.Background(), tx, ev)
		})
		if _, ok := pgdb.UniqueViolation(err); !ok {
			t.Errorf("second Add = %v, want a unique violation", err)
		}
	})
}

func TestRunRejectsBadConfig(t *testing.T) {
	t.Parallel()
	pool, _ := database(t)
	_, js := connect(t, testkit.StartNATS(t))
	for name, cfg := range map[string]outbox.RelayConfig{
		"no schema":      {},
		"bad schema":     {Schema: "Svc; drop"},
		"negative batch": {Schema: schema, BatchSize: -1},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := outbox.NewRelay(pool, js, cfg, nil).Run(ctx); err == nil || errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Run = %v, want a configuration error", err)
			}
		})
	}
}

// BenchmarkRelay measures events per second from committed outbox rows to acknowledged JetStream
// messages and deleted rows (rows are written before the timer starts).
func BenchmarkRelay(b *testing.B) {
	for _, batch := range []int{100, 500} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			pool, commits := database(b)
			_, js := connect(b, testkit.StartNATS(b))
			evs := make([]*eventsv1.Event, b.N)
			for i := range evs {
				evs[i] = newEvent(b, i)
			}
			for start := 0; start < len(evs); start += 500 {
				end := min(start+500, len(evs))
				if err := pgdb.InTx(context.Background(), pool, func(tx pgx.Tx) error {
					for _, ev := range evs[start:end] {
						if err := outbox.Add(context.Background(), tx, ev); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			r := outbox.NewRelay(pool, js, outbox.RelayConfig{Schema: schema, Commits: commits, BatchSize: batch}, nil)
			b.ResetTimer()
			start := time.Now()
			run(b, r)
			for {
				n, err := r.Pending(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				if n == 0 {
					break
				}
				time.Sleep(2 * time.Millisecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

func TestRelayOutageUnderLoad(t *testing.T) {
	t.Parallel()
	pool, commits := database(t)
	dir := t.TempDir()
	srv := testkit.StartNATSAt(t, 0, dir)
	port := srv.Addr().(*net.TCPAddr).Port
	_, js := connect(t, srv.ClientURL())
	r := outbox.NewRelay(pool, js, outbox.RelayConfig{Schema: schema, Commits: commits, BatchSize: 20, PollInterval: 50 * time.Millisecond}, testLogger(t))
	run(t, r)

	// Writers keep committing through the outage: NATS goes away while batches are in flight.
	stop := make(chan struct{})
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ev := newEvent(t, w*100000+i)
				if err := pgdb.InTx(context.Background(), pool, func(tx pgx.Tx) error {
					return outbox.Add(context.Background(), tx, ev)
				}); err != nil {
					t.Errorf("add during outage: %v", err)
					return
				}
				mu.Lock()
				ids = append(ids, ev.GetId())
				mu.Unlock()
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	srv.Shutdown()
	srv.WaitForShutdown()
	time.Sleep(700 * time.Millisecond)
	testkit.StartNATSAt(t, port, dir)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	eventually(t, 30*time.Second, "the backlog published", func() bool { return pending(t, r) == 0 })
	t.Logf("%d events written across the outage", len(ids))
	checkExactlyOnce(t, js, ids)
}

func TestRelaySpacesRoundsByTheInterval(t *testing.T) {
	t.Parallel()
	pool, commits := database(t)
	_, js := connect(t, testkit.StartNATS(t))
	const interval = 2 * time.Second
	r := outbox.NewRelay(pool, js, outbox.RelayConfig{Schema: schema, Commits: commits, RoundInterval: interval, PollInterval: time.Hour}, testLogger(t))
	run(t, r)
	// The relay runs a round when it starts; let the next write come after a quiet interval.
	time.Sleep(interval + 200*time.Millisecond)

	// A write after a quiet time is published at once, not after the interval.
	added := time.Now()
	first := addCommitted(t, pool, 1)
	eventually(t, 10*time.Second, "the first event published", func() bool { return pending(t, r) == 0 })
	if took := time.Since(added); took >= interval {
		t.Errorf("the first event took %s to publish, want less than the interval %s", took, interval)
	}

	// Writes that follow within the interval wait for it and go out in one round.
	ids := addCommitted(t, pool, 10)
	eventually(t, 10*time.Second, "the others published", func() bool { return pending(t, r) == 0 })
	// The stream's times of the eleven messages: a round publishes its rows within milliseconds,
	// so the ten stored within a short span came in one round.
	stored := streamTimes(t, js)
	if len(stored) != 11 {
		t.Fatalf("stream holds %d messages, want 11", len(stored))
	}
	if span := stored[10].Sub(stored[1]); span > interval/4 {
		t.Errorf("the ten events were stored over %s, want one round (within %s)", span, interval/4)
	}
	// Allow for a loaded machine (CI runs the packages in parallel), where the first round's
	// publish came 130 ms after its start. A relay that did not wait would publish the ten
	// within milliseconds.
	if gap := stored[1].Sub(stored[0]); gap < interval*3/4 {
		t.Errorf("the second round published %s after the first, want at least %s", gap, interval)
	}
	checkExactlyOnce(t, js, append(first, ids...))
}

func TestRelayDrainsABacklogWithoutPause(t *testing.T) {
	t.Parallel()
	pool, commits := database(t)
	_, js := connect(t, testkit.StartNATS(t))
	ids := addCommitted(t, pool, 250)
	const interval = 5 * time.Second
	r := outbox.NewRelay(pool, js, outbox.RelayConfig{Schema: schema, Commits: commits, BatchSize: 100, RoundInterval: interval, PollInterval: time.Hour}, testLogger(t))
	start := time.Now()
	run(t, r)
	eventually(t, 20*time.Second, "the backlog published", func() bool { return pending(t, r) == 0 })
	if took := time.Since(start); took >= interval {
		t.Errorf("the backlog of 250 took %s to publish in rounds of 100, want less than the interval %s", took, interval)
	}
	checkExactlyOnce(t, js, ids)
}
