package events_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crmsuite/crm/pkg/events"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
)

// consumeBatch runs ConsumeBatch in the background until the test ends.
func consumeBatch(t *testing.T, js jetstream.JetStream, nc *nats.Conn, cfg events.ConsumerConfig, h events.BatchHandler, dl events.DeadLetter) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- events.ConsumeBatch(ctx, js, nc, cfg, h, dl, testLogger(t)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("ConsumeBatch returned %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("ConsumeBatch did not return after cancel")
		}
	})
}

func TestConsumeBatchHandlesEachEventOnceInOrderAndInBatches(t *testing.T) {
	t.Parallel()
	nc, js, s := broker(t)
	evs := newEvents(t, 120)
	publish(t, js, evs[:100]...) // waiting before the consumer starts: they come in batches

	var mu sync.Mutex
	var order []string
	var sizes []int
	var dl deadLetters
	consumeBatch(t, js, nc, events.ConsumerConfig{Durable: "batches", BatchSize: 30},
		func(_ context.Context, got []*eventsv1.Event) error {
			mu.Lock()
			defer mu.Unlock()
			sizes = append(sizes, len(got))
			for _, ev := range got {
				order = append(order, ev.GetSubject())
			}
			return nil
		}, dl.store)
	publish(t, js, evs[100:]...)

	eventually(t, 10*time.Second, "all events handled and acked", func() bool {
		mu.Lock()
		n := len(order)
		mu.Unlock()
		return n >= len(evs) && consumerDone(t, s, "batches")
	})
	time.Sleep(300 * time.Millisecond) // room for a wrong redelivery to show
	mu.Lock()
	defer mu.Unlock()
	if len(order) != len(evs) {
		t.Fatalf("handled %d events, want %d", len(order), len(evs))
	}
	for i, ev := range evs {
		if order[i] != ev.GetSubject() {
			t.Fatalf("event %d handled as %s, want %s (stream order)", i, order[i], ev.GetSubject())
		}
	}
	biggest := 0
	for _, n := range sizes {
		if n > 30 {
			t.Fatalf("a batch of %d, above BatchSize 30", n)
		}
		biggest = max(biggest, n)
	}
	if biggest < 2 {
		t.Errorf("batch sizes %v: waiting events were not batched", sizes)
	}
	if got := dl.list(); len(got) != 0 {
		t.Errorf("dead letters %v, want none", got)
	}
}

func TestConsumeBatchIsolatesABadEvent(t *testing.T) {
	t.Parallel()
	nc, js, s := broker(t)
	evs := newEvents(t, 10)
	bad := newEvent(t, context.Background(), "BAD")
	publish(t, js, evs[:5]...)
	publish(t, js, bad)
	publish(t, js, evs[5:]...)

	var seen counter
	var dl deadLetters
	consumeBatch(t, js, nc, events.ConsumerConfig{Durable: "isolate", MaxDeliver: 3, Backoff: []time.Duration{50 * time.Millisecond}},
		func(_ context.Context, got []*eventsv1.Event) error {
			for _, ev := range got {
				if ev.GetSubject() == "BAD" {
					return errors.New("constraint violated") // nothing of this batch is committed
				}
			}
			for _, ev := range got {
				seen.inc(ev.GetId())
			}
			return nil
		}, dl.store)

	eventually(t, 10*time.Second, "the bad event dead-lettered and the rest acked", func() bool {
		return len(dl.list()) == 1 && consumerDone(t, s, "isolate")
	})
	for _, ev := range evs {
		if n := seen.get(ev.GetId()); n != 1 {
			t.Errorf("good event %s committed %d times, want 1", ev.GetSubject(), n)
		}
	}
	got := dl.list()
	if dec, err := events.Decode(got[0].msg.Data); err != nil || dec.GetId() != bad.GetId() {
		t.Errorf("dead letter holds %v (%v), want the bad event", dec, err)
	}
	if want := events.ReasonMaxDeliveries + " (3): constraint violated"; got[0].reason != want {
		t.Errorf("reason %q, want %q", got[0].reason, want)
	}
}

func TestConsumeBatchRejectsBadConfig(t *testing.T) {
	t.Parallel()
	err := events.ConsumeBatch(context.Background(), nil, nil, events.ConsumerConfig{Durable: "x", BatchSize: -1},
		func(context.Context, []*eventsv1.Event) error { return nil }, (&deadLetters{}).store, nil)
	if err == nil {
		t.Fatal("negative batch size accepted")
	}
	err = events.ConsumeBatch(context.Background(), nil, nil, events.ConsumerConfig{Durable: "x"}, nil, (&deadLetters{}).store, nil)
	if err == nil {
		t.Fatal("nil handler accepted")
	}
	for _, replaces := range [][]string{{"x"}, {"a.b"}, {""}} {
		err = events.ConsumeBatch(context.Background(), nil, nil, events.ConsumerConfig{Durable: "x", Replaces: replaces},
			func(context.Context, []*eventsv1.Event) error { return nil }, (&deadLetters{}).store, nil)
		if err == nil {
			t.Fatalf("replaced consumers %q accepted", replaces)
		}
	}
}

func TestConsumeBatchSpacesBatchesByTheInterval(t *testing.T) {
	t.Parallel()
	nc, js, s := broker(t)
	const interval = 2 * time.Second
	var mu sync.Mutex
	var starts []time.Time
	var sizes []int
	var dl deadLetters
	consumeBatch(t, js, nc, events.ConsumerConfig{Durable: "spaced", BatchInterval: interval},
		func(_ context.Context, got []*eventsv1.Event) error {
			mu.Lock()
			defer mu.Unlock()
			starts = append(starts, time.Now())
			sizes = append(sizes, len(got))
			return nil
		}, dl.store)
	handled := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, size := range sizes {
			n += size
		}
		return n
	}

	// A lone event after a quiet time is handled at once, not after the interval.
	sent := time.Now()
	publish(t, js, newEvent(t, context.Background(), "LONE"))
	eventually(t, 10*time.Second, "the lone event handled", func() bool { return handled() == 1 })
	if took := time.Since(sent); took >= interval {
		t.Errorf("the lone event took %s, want less than the interval %s", took, interval)
	}

	// Events that follow within the interval wait for it and come in one batch.
	evs := newEvents(t, 20)
	publish(t, js, evs...)
	eventually(t, 10*time.Second, "all events handled and acked", func() bool {
		return handled() == 21 && consumerDone(t, s, "spaced")
	})
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(starts); i++ {
		if gap := starts[i].Sub(starts[i-1]); gap < interval {
			t.Errorf("batch %d started %s after batch %d, want at least %s", i, gap, i-1, interval)
		}
	}
	if len(sizes) != 2 {
		t.Errorf("batch sizes %v, want [1 20]: the events that came within the interval in one batch", sizes)
	}
}

func TestConsumeBatchWorksOffABacklogWithoutPause(t *testing.T) {
	t.Parallel()
	nc, js, s := broker(t)
	evs := newEvents(t, 250)
	publish(t, js, evs...) // waiting before the consumer starts: a backlog

	const interval = 5 * time.Second
	var mu sync.Mutex
	var sizes []int
	var dl deadLetters
	start := time.Now()
	consumeBatch(t, js, nc, events.ConsumerConfig{Durable: "backlog", BatchSize: 100, BatchInterval: interval},
		func(_ context.Context, got []*eventsv1.Event) error {
			mu.Lock()
			defer mu.Unlock()
			sizes = append(sizes, len(got))
			return nil
		}, dl.store)
	eventually(t, 20*time.Second, "all events handled and acked", func() bool { return consumerDone(t, s, "backlog") })
	if took := time.Since(start); took >= interval {
		mu.Lock()
		defer mu.Unlock()
		t.Errorf("the backlog took %s in batches %v, want less than the interval %s: full batches follow each other at once",
			took, sizes, interval)
	}
}

// TestConsumeBatchTakesOverFromReplacedConsumers merges two consumers into one: the new one
// starts after the lower of their acknowledgement floors, deletes them, keeps its start across
// restarts (the server refuses to change it), and deletes a replaced consumer that reappears.
func TestConsumeBatchTakesOverFromReplacedConsumers(t *testing.T) {
	t.Parallel()
	nc, js, s := broker(t)
	ctx := context.Background()
	evs := newEvents(t, 8)
	publish(t, js, evs[:6]...)
	// The earlier version's two consumers: one had acknowledged 2 events, the other 4.
	oldConsumer := func(name string, acked int) {
		t.Helper()
		cons, err := js.CreateOrUpdateConsumer(ctx, events.StreamName, jetstream.ConsumerConfig{
			Durable: name, AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy})
		if err != nil {
			t.Fatal(err)
		}
		if acked == 0 {
			return
		}
		msgs, err := cons.Fetch(acked, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for msg := range msgs.Messages() {
			if err := msg.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	oldConsumer("old-a", 4)
	oldConsumer("old-b", 2)

	var mu sync.Mutex
	var handled []string
	cfg := events.ConsumerConfig{Durable: "merged", Replaces: []string{"old-a", "old-b"}}
	run := func() (stop func()) {
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- events.ConsumeBatch(cctx, js, nc, cfg, func(_ context.Context, got []*eventsv1.Event) error {
				mu.Lock()
				defer mu.Unlock()
				for _, ev := range got {
					handled = append(handled, ev.GetSubject())
				}
				return nil
			}, (&deadLetters{}).store, testLogger(t))
		}()
		return func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("ConsumeBatch returned %v, want context.Canceled", err)
			}
		}
	}
	waitFor := func(want ...*eventsv1.Event) {
		t.Helper()
		eventually(t, 10*time.Second, "events handled and acked", func() bool {
			mu.Lock()
			n := len(handled)
			mu.Unlock()
			return n >= len(want) && consumerDone(t, s, "merged")
		})
		time.Sleep(200 * time.Millisecond) // room for a wrong redelivery to show
		mu.Lock()
		defer mu.Unlock()
		var wantSubjects []string
		for _, ev := range want {
			wantSubjects = append(wantSubjects, ev.GetSubject())
		}
		if strings.Join(handled, " ") != strings.Join(wantSubjects, " ") {
			t.Fatalf("handled %v, want %v", handled, wantSubjects)
		}
	}
	gone := func(name string) {
		t.Helper()
		if _, err := s.Consumer(ctx, name); !errors.Is(err, jetstream.ErrConsumerNotFound) {
			t.Fatalf("consumer %s: %v, want it deleted", name, err)
		}
	}

	stop := run()
	waitFor(evs[2:6]...) // after old-b's floor: events 3–6, none that old-b had still to handle skipped
	stop()
	gone("old-a")
	gone("old-b")

	publish(t, js, evs[6])
	oldConsumer("old-a", 0) // a replica of the earlier version re-created it
	stop = run()
	waitFor(evs[2:7]...)
	gone("old-a")
	publish(t, js, evs[7])
	waitFor(evs[2:8]...)
	stop()
}

func TestConsumeBatchWithReplacedConsumersThatNeverExistedStartsAtTheBeginning(t *testing.T) {
	t.Parallel()
	nc, js, s := broker(t)
	evs := newEvents(t, 3)
	publish(t, js, evs...)
	var seen counter
	consumeBatch(t, js, nc, events.ConsumerConfig{Durable: "fresh", Replaces: []string{"never-was"}},
		func(_ context.Context, got []*eventsv1.Event) error {
			for _, ev := range got {
				seen.inc(ev.GetId())
			}
			return nil
		}, (&deadLetters{}).store)
	eventually(t, 10*time.Second, "all events handled and acked", func() bool {
		return seen.total() == len(evs) && consumerDone(t, s, "fresh")
	})
}
