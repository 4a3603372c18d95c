package events_test

import (
	"context"
	"errors"
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
