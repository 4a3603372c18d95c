package store_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/outbox"
	"github.com/crmsuite/crm/pkg/testkit"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
	taggingv1 "github.com/crmsuite/crm/proto/gen/go/crm/tagging/v1"
	"github.com/crmsuite/crm/services/tagging/internal/store"
)

// TestEventsEndToEnd runs the service's NATS side against an embedded server: customer events
// feed customer_refs and customer_attrs through the consumer, and a level change leaves through the outbox relay as
// crm.tagging.customer_level.changed with a CustomerLevel and its version.
func TestEventsEndToEnd(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nc, js, _ := testkit.StartEventStream(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	done := make(chan struct{}, 2)
	go func() { _ = st.ConsumeCustomerEvents(ctx, js, nc, log); done <- struct{}{} }()
	relay := outbox.NewRelay(pool, js, outbox.RelayConfig{Schema: store.Schema, PollInterval: 50 * time.Millisecond}, log)
	go func() { _ = relay.Run(ctx); done <- struct{}{} }()
	defer func() { cancel(); <-done; <-done }()

	const c = "CUST-20260101-0001"
	for _, v := range []int64{1, 2} {
		data, err := anypb.New(&customerv1.Customer{CustomerId: c, OwnerId: fmt.Sprintf("u-sales%d", v), TeamId: "east",
			Type: customerv1.CustomerType_CUSTOMER_TYPE_ENTERPRISE, Status: customerv1.CustomerStatus_CUSTOMER_STATUS_ACTIVE,
			Address: &customerv1.Address{Province: "广东"}})
		if err != nil {
			t.Fatal(err)
		}
		ev := &eventsv1.Event{Id: fmt.Sprintf("e-%s-%d-nats", c, v), Type: "customer.updated", Source: "customer", EntityType: "customer",
			Subject: c, EntityVersion: v, Data: data}
		testkit.PublishEvent(t, js, ev)
	}
	eventually(t, func() bool {
		var version int64
		err := pool.QueryRow(ctx, `SELECT version FROM customer_attrs WHERE customer_id = $1 AND type = 'enterprise' AND province = '广东省'`, c).Scan(&version)
		return err == nil && version == 2
	})
	var owner, team string
	var version int64
	if err := pool.QueryRow(ctx, `SELECT owner_id, team_id, version FROM customer_refs WHERE customer_id = $1`, c).
		Scan(&owner, &team, &version); err != nil || owner != "u-sales2" || team != "east" || version != 2 {
		t.Fatalf("customer ref = %s %s v%d (%v), want u-sales2 east v2", owner, team, version, err)
	}
	sub, err := js.OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"crm.tagging.customer_level.>"}})
	if err != nil {
		t.Fatal(err)
	}
	assign(t, st, c, tagHigh)
	assign(t, st, c, tagLow)
	for want, level := range []string{"high", "low"} {
		msg, err := sub.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ev, err := events.Decode(msg.Data())
		if err != nil {
			t.Fatal(err)
		}
		var l taggingv1.CustomerLevel
		if err := ev.GetData().UnmarshalTo(&l); err != nil {
			t.Fatal(err)
		}
		if msg.Subject() != "crm.tagging.customer_level.changed" || ev.GetSubject() != c || l.GetCustomerId() != c ||
			l.GetLevel() != level || ev.GetEntityVersion() != int64(want+1) || ev.GetSource() != "tagging" {
			t.Fatalf("level event on %s: %v %v", msg.Subject(), ev, &l)
		}
	}
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
