package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/outbox"
	"github.com/crmsuite/crm/pkg/testkit"
	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
	followupv1 "github.com/crmsuite/crm/proto/gen/go/crm/followup/v1"
	"github.com/crmsuite/crm/services/followup/internal/store"
)

// TestEventsThroughNATS runs the service's two event paths against a real (embedded) NATS: the
// outbox relay publishes followup events, whose data is the record, and the customer's latest
// contact time (customer_last_followup.changed), which the customer service reads; and the
// customer projection consumes customer events, so that a customer deleted in the customer
// service takes no new follow-ups here.
func TestEventsThroughNATS(t *testing.T) {
	t.Parallel()
	e := start(t)
	nc, js, stream := testkit.StartEventStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	t.Cleanup(func() { stop(); <-done; <-done })
	go func() {
		defer func() { done <- struct{}{} }()
		_ = outbox.NewRelay(e.pool, js, outbox.RelayConfig{Schema: store.Schema, PollInterval: 100 * time.Millisecond}, log).Run(runCtx)
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		_ = e.projection.Consume(runCtx, js, nc, "followup-customers", log)
	}()

	// followup.created and followup.updated carry the record.
	in := e.input(2)
	f, err := e.client.CreateFollowUp(as(t, "sales1"), &followupv1.CreateFollowUpRequest{CustomerId: custA, Followup: in})
	if err != nil {
		t.Fatal(err)
	}
	created := lastData(ctx, t, stream, "crm.followup.followup.created")
	if created.GetCustomerId() != custA || !created.GetContactTime().AsTime().Equal(in.GetContactTime().AsTime()) ||
		created.GetFollowupId() != f.GetFollowupId() {
		t.Fatalf("created event data = %v", created)
	}
	later := timestamppb.New(e.clock.now().Add(-time.Minute))
	if _, err := e.client.UpdateFollowUp(as(t, "sales1"), &followupv1.UpdateFollowUpRequest{
		Followup:   &followupv1.FollowUp{FollowupId: f.GetFollowupId(), ContactTime: later},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"contact_time"}}}); err != nil {
		t.Fatal(err)
	}
	updated := lastData(ctx, t, stream, "crm.followup.followup.updated")
	if updated.GetCustomerId() != custA || !updated.GetContactTime().AsTime().Equal(later.AsTime()) || updated.GetEtag() != "2" {
		t.Fatalf("updated event data = %v", updated)
	}
	// Each moved the customer's latest contact time, which the customer service keeps.
	lastEv := lastEvent(ctx, t, stream, "crm.followup.customer_last_followup.changed", 2)
	var last followupv1.CustomerLastFollowUp
	if err := lastEv.GetData().UnmarshalTo(&last); err != nil {
		t.Fatal(err)
	}
	if lastEv.GetSubject() != custA || lastEv.GetEntityVersion() != 2 || last.GetCustomerId() != custA ||
		!last.GetContactTime().AsTime().Equal(later.AsTime()) {
		t.Fatalf("last follow-up event = %v, data %v", lastEv, &last)
	}

	// The customer service deletes customer A; the projection hears of it through NATS.
	ev, err := events.New(ctx, "customer", "customer", "deleted", custA, &commonv1.Actor{UserId: "u-admin", Role: "admin"}, 9,
		&customerv1.Customer{CustomerId: custA, OwnerId: "u-sales1", TeamId: "east", DeleteTime: timestamppb.Now(), Etag: "9"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	testkit.PublishEvent(t, js, ev)
	for {
		_, err := e.client.CreateFollowUp(as(t, "sales1"), &followupv1.CreateFollowUpRequest{CustomerId: custA, Followup: e.input(2)})
		if status.Code(err) == codes.FailedPrecondition {
			break
		}
		if err != nil && status.Code(err) != codes.OK {
			t.Fatalf("create while the deletion travels: %v", err)
		}
		select {
		case <-ctx.Done():
			t.Fatal("the projection never applied the customer's deletion")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// lastData waits for the last event on subject and returns its data as a FollowUp.
func lastData(ctx context.Context, t *testing.T, stream jetstream.Stream, subject string) *followupv1.FollowUp {
	t.Helper()
	ev := lastEvent(ctx, t, stream, subject, 0)
	if ev.GetEntityType() != "followup" {
		t.Fatalf("envelope: %v", ev)
	}
	var f followupv1.FollowUp
	if err := ev.GetData().UnmarshalTo(&f); err != nil {
		t.Fatal(err)
	}
	return &f
}

// lastEvent waits for the last event on subject, one of at least minVersion.
func lastEvent(ctx context.Context, t *testing.T, stream jetstream.Stream, subject string, minVersion int64) *eventsv1.Event {
	t.Helper()
	for {
		raw, err := stream.GetLastMsgForSubject(ctx, subject)
		if err == nil {
			ev, err := events.Decode(raw.Data)
			if err != nil {
				t.Fatal(err)
			}
			if raw.Header.Get(events.HeaderType) != ev.GetType() || ev.GetSource() != "followup" {
				t.Fatalf("envelope: %v, headers %v", ev, raw.Header)
			}
			if ev.GetEntityVersion() >= minVersion {
				return ev
			}
		} else if !errors.Is(err, jetstream.ErrMsgNotFound) {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no event of version %d or later on %s", minVersion, subject)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
