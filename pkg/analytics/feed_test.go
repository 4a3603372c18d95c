package analytics_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crmsuite/crm/pkg/analytics"
	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/testkit"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
)

// TestFeedPublishesMaskedCopies runs the feed against an embedded NATS: events published on
// CRM_EVENTS come out on analytics.crm.> masked, with the CloudEvents headers, once each even when
// an event is published twice.
func TestFeedPublishesMaskedCopies(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, js, _ := testkit.StartEventStream(t)

	first := customerEvent(t, customerv1.CustomerType_CUSTOMER_TYPE_INDIVIDUAL, "王小明", change(t, "mobile", nil, "13812345678"))
	second := customerEvent(t, customerv1.CustomerType_CUSTOMER_TYPE_ENTERPRISE, "杭州星辰科技有限公司")
	// The first twice, as CRM_EVENTS holds it after a republish beyond its duplicate window; the
	// feed publishing a batch again after a failure looks the same to CRM_ANALYTICS.
	for _, ev := range []*eventsv1.Event{first, first, second} {
		msg, err := events.Message(ev)
		if err != nil {
			t.Fatal(err)
		}
		msg.Header.Del(jetstream.MsgIDHeader) // CRM_EVENTS keeps both copies; the feed must not
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- analytics.Feed(runCtx, js, nc, 1, slog.New(slog.DiscardHandler)) }()
	defer func() {
		stop()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("feed: %v", err)
		}
	}()

	var stream jetstream.Stream
	var err error
	for {
		if stream, err = js.Stream(ctx, analytics.StreamName); err == nil {
			info, err := stream.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.State.Msgs >= 2 {
				break
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal("the feed never published both events")
		case <-time.After(50 * time.Millisecond):
		}
	}
	// Give a third copy the chance to arrive before counting.
	time.Sleep(200 * time.Millisecond)
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Fatalf("%d messages in %s, want 2 (the repeated event once)", info.State.Msgs, analytics.StreamName)
	}

	raw, err := stream.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if raw.Subject != "analytics.crm.customer.customer.updated" || raw.Header.Get(events.HeaderID) != first.GetId() ||
		raw.Header.Get(events.HeaderType) != "customer.updated" || raw.Header.Get(jetstream.MsgIDHeader) != first.GetId() {
		t.Fatalf("message %s with headers %v", raw.Subject, raw.Header)
	}
	ev, err := events.Decode(raw.Data)
	if err != nil {
		t.Fatal(err)
	}
	c := data(t, ev, &customerv1.Customer{})
	if c.GetName() != "王**" || c.GetMobile() != "138****5678" || ev.GetChanges()[0].GetAfter().GetStringValue() != "138****5678" {
		t.Fatalf("published unmasked: %v", ev)
	}
}
