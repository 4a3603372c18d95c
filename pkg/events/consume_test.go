package events_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/testkit"
	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
)

// broker starts an embedded NATS with the CRM_EVENTS stream and returns a connection to it.
func broker(t *testing.T) (*nats.Conn, jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	nc, err := nats.Connect(testkit.StartNATS(t), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := events.EnsureStream(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js, s
}

// publish publishes events with their headers and waits for the acks.
func publish(t *testing.T, js jetstream.JetStream, evs ...*eventsv1.Event) {
	t.Helper()
	for _, ev := range evs {
		testkit.PublishEvent(t, js, ev)
	}
}

// consume runs Consume in the background until the test ends, and fails the test if Consume
// returns anything but context.Canceled.
func consume(t *testing.T, js jetstream.JetStream, nc *nats.Conn, cfg events.ConsumerConfig, h events.Handler, dl events.DeadLetter) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- events.Consume(ctx, js, nc, cfg, h, dl, testLogger(t)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Consume returned %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Consume did not return after cancel")
		}
	})
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// counter counts calls per event id.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) inc(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[id]++
	return c.n[id]
}

func (c *counter) get(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[id]
}

func (c *counter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	sum := 0
	for _, v := range c.n {
		sum += v
	}
	return sum
}

// deadLetters records dead-letter calls.
type deadLetters struct {
	mu    sync.Mutex
	calls []deadLetter
}

type deadLetter struct {
	seq    uint64
	msg    *jetstream.RawStreamMsg
	reason string
}

func (d *deadLetters) store(_ context.Context, seq uint64, msg *jetstream.RawStreamMsg, reason string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, deadLetter{seq, msg, reason})
	return nil
}

func (d *deadLetters) list() []deadLetter {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]deadLetter(nil), d.calls...)
}

// consumerDone reports whether the durable has nothing pending and nothing unacknowledged.
func consumerDone(t *testing.T, s jetstream.Stream, durable string) bool {
	t.Helper()
	c, err := s.Consumer(context.Background(), durable)
	if err != nil {
		return false
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.NumPending == 0 && info.NumAckPending == 0
}

func TestConsumeHandlesEachEventOnce(t *testing.T) {
	t.Parallel()
	nc, js, s := broker(t)
	evs := newEvents(t, 50)
	publish(t, js, evs[:25]...)

	var seen counter
	var dl deadLetters
	consume(t, js, nc, events.ConsumerConfig{Durable: "happy", FilterSubjects: []string{"crm.>"}, Concurrency: 4},
		func(_ context.Context, ev *eventsv1.Event) error {
			seen.inc(ev.GetId())
			return nil
		}, dl.store)
	publish(t, js, evs[25:]...) // some arrive while consuming

	eventually(t, 10*time.Second, "all events handled and acked", func() bool {
		return seen.total() >= len(evs) && consumerDone(t, s, "happy")
	})
	time.Sleep(300 * time.Millisecond) // room for a wrong redelivery to show
	for _, ev := range evs {
		if n := seen.get(ev.GetId()); n != 1 {
			t.Errorf("event %s handled %d times, want 1", ev.GetId(), n)
		}
	}
	if seen.total() != len(evs) {
		t.Errorf("handled %d, want %d", seen.total(), len(evs))
	}
	if got := dl.list(); len(got) != 0 {
		t.Errorf("dead letters %v, want none", got)
	}
}

func TestConsumeChangedFieldsOnlyHandsEventsWithFieldNames(t *testing.T) {
	t.Parallel()
	nc, js, s := broker(t)
	ev := newEvent(t, context.Background(), "C1")
	publish(t, js, ev)

	got := make(chan *eventsv1.Event, 1)
	var dl deadLetters
	consume(t, js, nc, events.ConsumerConfig{Durable: "projection", FilterSubjects: []string{"crm.>"}, ChangedFieldsOnly: true},
		func(_ context.Context, ev *eventsv1.Event) error {
			got <- ev
			return nil
		}, dl.store)
	select {
	case h := <-got:
		want := proto.CloneOf(ev)
		want.Changes = nil
		for _, ch := range ev.GetChanges() {
			want.Changes = append(want.Changes, &commonv1.FieldChange{Field: ch.GetField()})
		}
		if len(ev.GetChanges()) == 0 || !proto.Equal(h, want) {
			t.Errorf("handler got %v\nwant %v", h, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("event not handled")
	}
	eventually(t, 10*time.Second, "event acked", func() bool { return consumerDone(t, s, "projection") })
}

func TestConsumeRetriesFailedHandlerWithBackoff(t *testing.T) {
	t.Parallel()
	nc, js, s := broker(t)
	ev := newEvent(t, context.Background(), "C1")
	publish(t, js, ev)

	var mu sync.Mutex
	var times []time.Time
	var dl deadLetters
	backoff := []time.Duration{300 * time.Millisecond, 600 * time.Millisecond}
	consume(t, js, nc, events.ConsumerConfig{Durable: "retry", MaxDeliver: 5, Backoff: backoff},
		func(_ context.Context, got *eventsv1.Event) error {
			mu.Lock()
			defer mu.Unlock()
			times = append(times, time.Now())
			if len(times) <= 2 {
				return errors.New("database unavailable")
			}
			return nil
		}, dl.store)

	eventually(t, 10*time.Second, "third delivery acked", func() bool {
		mu.Lock()
		n := len(times)
		mu.Unlock()
		return n >= 3 && consumerDone(t, s, "retry")
	})
	time.Sleep(time.Second) // an unacked message would come back within this
	mu.Lock()
	defer mu.Unlock()
	if len(times) != 3 {
		t.Fatalf("handler called %d times, want 3", len(times))
	}
	for i, want := range backoff {
		if gap := times[i+1].Sub(times[i]); gap < want-50*time.Millisecond {
			t.Errorf("delivery %d came %s after the previous, want ≥ %s", i+2, gap, want)
		}
	}
	if got := dl.list(); len(got) != 0 {
		t.Errorf("dead letters %v, want none", got)
	}
}

func TestConsumeDeadLettersAfterMaxDeliver(t *testing.T) {
	t.Parallel()
	nc, js, s := broker(t)
	good := newEvent(t, context.Background(), "GOOD")
	bad := newEvent(t, context.Background(), "BAD")
	publish(t, js, bad, good)

	var seen counter
	var dl deadLetters
	consume(t, js, nc, events.ConsumerConfig{Durable: "dlq", MaxDeliver: 3, Backoff: []time.Duration{50 * time.Millisecond}},
		func(_ context.Context, ev *eventsv1.Event) error {
			seen.inc(ev.GetId())
			if ev.GetSubject() == "BAD" {
				return errors.New("constraint violated")
			}
			return nil
		}, dl.store)

	eventually(t, 10*time.Second, "a dead letter", func() bool { return len(dl.list()) > 0 })
	time.Sleep(1500 * time.Millisecond) // a second advisory or delivery would arrive within this
	got := dl.list()
	if len(got) != 1 {
		t.Fatalf("%d dead letters, want 1: %v", len(got), got)
	}
	if got[0].seq != 1 || got[0].msg.Sequence != 1 {
		t.Errorf("dead letter seq %d / msg seq %d, want 1", got[0].seq, got[0].msg.Sequence)
	}
	if want := events.ReasonMaxDeliveries + " (3): constraint violated"; got[0].reason != want {
		t.Errorf("reason %q, want %q", got[0].reason, want)
	}
	dec, err := events.Decode(got[0].msg.Data)
	if err != nil || dec.GetId() != bad.GetId() {
		t.Errorf("dead letter holds %v (%v), want event %s", dec, err, bad.GetId())
	}
	if got[0].msg.Header.Get("ce-id") != bad.GetId() {
		t.Errorf("dead letter headers %v", got[0].msg.Header)
	}
	if n := seen.get(bad.GetId()); n != 3 {
		t.Errorf("failing event handled %d times, want MaxDeliver = 3", n)
	}
	if n := seen.get(good.GetId()); n != 1 {
		t.Errorf("good event handled %d times, want 1", n)
	}
	if !consumerDone(t, s, "dlq") {
		t.Error("consumer still has pending or unacked messages")
	}
}

func TestConsumeTerminatesUndecodable(t *testing.T) {
	t.Parallel()
	nc, js, s := broker(t)
	if _, err := js.Publish(context.Background(), "crm.customer.customer.created", []byte("not an event")); err != nil {
		t.Fatal(err)
	}
	ev := newEvent(t, context.Background(), "C1")
	publish(t, js, ev)

	var seen counter
	var dl deadLetters
	consume(t, js, nc, events.ConsumerConfig{Durable: "garbage", MaxDeliver: 3, Backoff: []time.Duration{50 * time.Millisecond}},
		func(_ context.Context, ev *eventsv1.Event) error {
			seen.inc(ev.GetId())
			return nil
		}, dl.store)

	eventually(t, 10*time.Second, "the good event", func() bool { return seen.total() == 1 && consumerDone(t, s, "garbage") })
	time.Sleep(500 * time.Millisecond)
	got := dl.list()
	if len(got) != 1 {
		t.Fatalf("%d dead letters, want 1: %v", len(got), got)
	}
	if !strings.HasPrefix(got[0].reason, events.ReasonUndecodable) || got[0].seq != 1 || string(got[0].msg.Data) != "not an event" {
		t.Errorf("dead letter %d %q %q", got[0].seq, got[0].reason, got[0].msg.Data)
	}
	if seen.get(ev.GetId()) != 1 {
		t.Error("the decodable event was not handled once")
	}
}

func TestConsumeContinuesProducerTrace(t *testing.T) {
	// Not parallel: it installs the global tracer provider that Consume's spans use.
	rec := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	nc, js, _ := broker(t)

	ctx, producer := otel.Tracer("test").Start(context.Background(), "CreateCustomer")
	ev := newEvent(t, ctx, "C1")
	producer.End()
	publish(t, js, ev)

	got := make(chan trace.SpanContext, 1)
	var dl deadLetters
	consume(t, js, nc, events.ConsumerConfig{Durable: "trace"}, func(ctx context.Context, _ *eventsv1.Event) error {
		got <- trace.SpanContextFromContext(ctx)
		return nil
	}, dl.store)

	var sc trace.SpanContext
	select {
	case sc = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("handler not called")
	}
	if sc.TraceID() != producer.SpanContext().TraceID() {
		t.Errorf("handler trace %s, want producer's %s", sc.TraceID(), producer.SpanContext().TraceID())
	}
	if sc.SpanID() == producer.SpanContext().SpanID() {
		t.Error("handler has no span of its own")
	}
	eventually(t, 5*time.Second, "the consumer span to end", func() bool {
		for _, s := range rec.Ended() {
			if s.SpanContext().SpanID() == sc.SpanID() {
				return true
			}
		}
		return false
	})
	for _, s := range rec.Ended() {
		if s.SpanContext().SpanID() != sc.SpanID() {
			continue
		}
		if s.SpanKind() != trace.SpanKindConsumer || s.Parent().SpanID() != producer.SpanContext().SpanID() ||
			s.InstrumentationScope().Name != "crm/events" {
			t.Errorf("span kind %v parent %s scope %s", s.SpanKind(), s.Parent().SpanID(), s.InstrumentationScope().Name)
		}
		attrs := map[string]string{}
		for _, a := range s.Attributes() {
			attrs[string(a.Key)] = a.Value.Emit()
		}
		want := map[string]string{
			"messaging.system":           "nats",
			"messaging.destination.name": "crm.customer.customer.updated",
			"messaging.message.id":       ev.GetId(),
		}
		for k, v := range want {
			if attrs[k] != v {
				t.Errorf("attribute %s = %q, want %q", k, attrs[k], v)
			}
		}
	}
}

func TestConsumeRejectsBadConfig(t *testing.T) {
	t.Parallel()
	nc, js, _ := broker(t)
	ok := func(context.Context, *eventsv1.Event) error { return nil }
	var dl deadLetters
	tests := map[string]events.ConsumerConfig{
		"no durable":           {},
		"dotted durable":       {Durable: "a.b"},
		"backoff too long":     {Durable: "x", MaxDeliver: 2, Backoff: []time.Duration{time.Second, time.Second}},
		"negative backoff":     {Durable: "x", Backoff: []time.Duration{-time.Second}},
		"ack wait under 1s":    {Durable: "x", AckWait: time.Millisecond},
		"negative concurrency": {Durable: "x", Concurrency: -1},
		"negative max deliver": {Durable: "x", MaxDeliver: -1},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := events.Consume(ctx, js, nc, cfg, ok, dl.store, nil)
			if err == nil || errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Consume = %v, want a configuration error", err)
			}
		})
	}
}

func TestStreamDeduplicatesByEventID(t *testing.T) {
	t.Parallel()
	_, js, s := broker(t)
	ev := newEvent(t, context.Background(), "C1")
	for i, wantDup := range []bool{false, true} {
		msg, err := events.Message(ev)
		if err != nil {
			t.Fatal(err)
		}
		ack, err := js.PublishMsg(context.Background(), msg)
		if err != nil {
			t.Fatal(err)
		}
		if ack.Duplicate != wantDup {
			t.Errorf("publish %d: duplicate = %v, want %v", i+1, ack.Duplicate, wantDup)
		}
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("stream holds %d messages, want 1", info.State.Msgs)
	}
	cfg := info.Config
	if cfg.Duplicates != 10*time.Minute || cfg.Storage != jetstream.FileStorage || cfg.MaxAge != 30*24*time.Hour ||
		len(cfg.Subjects) != 1 || cfg.Subjects[0] != "crm.>" {
		t.Errorf("stream config %+v", cfg)
	}
}

func TestEnsureStreamIsIdempotent(t *testing.T) {
	t.Parallel()
	_, js, _ := broker(t)
	if _, err := events.EnsureStream(context.Background(), js, 1); err != nil {
		t.Errorf("second EnsureStream: %v", err)
	}
	if _, err := events.EnsureStream(context.Background(), js, 0); err == nil {
		t.Error("EnsureStream with 0 replicas succeeded")
	}
}

func TestConsumeFinishesHandlerInFlightAtShutdown(t *testing.T) {
	t.Parallel()
	nc, js, s := broker(t)
	publish(t, js, newEvent(t, context.Background(), "C1"))

	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	handlerErr := make(chan error, 1)
	done := make(chan error, 1)
	var dl deadLetters
	go func() {
		done <- events.Consume(ctx, js, nc, events.ConsumerConfig{Durable: "shutdown"},
			func(hctx context.Context, _ *eventsv1.Event) error {
				close(started)
				<-ctx.Done() // shutdown arrives while the handler works
				time.Sleep(100 * time.Millisecond)
				handlerErr <- hctx.Err()
				return hctx.Err()
			}, dl.store, testLogger(t))
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("handler not called")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Consume = %v, want context.Canceled", err)
	}
	if err := <-handlerErr; err != nil {
		t.Errorf("handler context ended with the shutdown: %v", err)
	}
	eventually(t, 5*time.Second, "the in-flight message acked", func() bool { return consumerDone(t, s, "shutdown") })
}

func TestConsumeSurvivesNATSRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := testkit.StartNATSAt(t, 0, dir)
	port := srv.Addr().(*net.TCPAddr).Port
	nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.RetryOnFailedConnect(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.EnsureStream(context.Background(), js, 1); err != nil {
		t.Fatal(err)
	}
	var seen counter
	var dl deadLetters
	consume(t, js, nc, events.ConsumerConfig{Durable: "restart"}, func(_ context.Context, ev *eventsv1.Event) error {
		seen.inc(ev.GetId())
		return nil
	}, dl.store)
	first := newEvent(t, context.Background(), "C1")
	publish(t, js, first)
	eventually(t, 10*time.Second, "first event", func() bool { return seen.get(first.GetId()) == 1 })

	srv.Shutdown()
	srv.WaitForShutdown()
	time.Sleep(500 * time.Millisecond)
	testkit.StartNATSAt(t, port, dir)
	eventually(t, 10*time.Second, "reconnect", nc.IsConnected)

	second := newEvent(t, context.Background(), "C2")
	eventually(t, 10*time.Second, "publish after restart", func() bool {
		msg, err := events.Message(second)
		if err != nil {
			t.Fatal(err)
		}
		_, err = js.PublishMsg(context.Background(), msg)
		return err == nil
	})
	eventually(t, 30*time.Second, "second event after the restart", func() bool { return seen.get(second.GetId()) == 1 })
	if n := seen.get(first.GetId()); n != 1 {
		t.Errorf("first event handled %d times, want 1", n)
	}
}

func TestConsumeWaitsForStreamAndRecreatesDeletedConsumer(t *testing.T) {
	t.Parallel()
	nc, err := nats.Connect(testkit.StartNATS(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var seen counter
	var dl deadLetters
	consume(t, js, nc, events.ConsumerConfig{Durable: "early"}, func(_ context.Context, ev *eventsv1.Event) error {
		seen.inc(ev.GetId())
		return nil
	}, dl.store)

	time.Sleep(300 * time.Millisecond) // Consume finds no stream yet
	s, err := events.EnsureStream(context.Background(), js, 1)
	if err != nil {
		t.Fatal(err)
	}
	first := newEvent(t, context.Background(), "C1")
	publish(t, js, first)
	eventually(t, 15*time.Second, "the event after the stream appeared", func() bool { return seen.get(first.GetId()) == 1 })

	if err := s.DeleteConsumer(context.Background(), "early"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the consumer re-created", func() bool {
		_, err := s.Consumer(context.Background(), "early")
		return err == nil
	})
	second := newEvent(t, context.Background(), "C2")
	publish(t, js, second)
	eventually(t, 15*time.Second, "the event after re-creation", func() bool { return seen.get(second.GetId()) == 1 })
}
