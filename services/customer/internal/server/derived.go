package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/crmsuite/crm/pkg/events"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
	followupv1 "github.com/crmsuite/crm/proto/gen/go/crm/followup/v1"
	taggingv1 "github.com/crmsuite/crm/proto/gen/go/crm/tagging/v1"
	"github.com/crmsuite/crm/services/customer/internal/store"
)

// Derived keeps the customer fields that other services own the facts of: 最近跟进时间 from the
// follow-up service's customer_last_followup events and 客户等级 from the tagging service's level
// events. Both carry a version per customer and are applied only when newer, so redelivery and
// reordering are harmless.
type Derived struct {
	store *store.Store
	log   *slog.Logger
}

// NewDerived returns the consumer of other services' events.
func NewDerived(st *store.Store, log *slog.Logger) *Derived { return &Derived{store: st, log: log} }

// ApplyLastFollowUps handles a batch of customer_last_followup.changed events in one statement.
func (d *Derived) ApplyLastFollowUps(ctx context.Context, evs []*eventsv1.Event) error {
	ls := make([]store.LastFollowUp, 0, len(evs))
	for _, ev := range evs {
		if ev.GetType() != "customer_last_followup.changed" {
			continue
		}
		var l followupv1.CustomerLastFollowUp
		if err := ev.GetData().UnmarshalTo(&l); err != nil {
			return fmt.Errorf("last follow-up event %s: %w", ev.GetId(), err)
		}
		if l.GetCustomerId() == "" {
			continue
		}
		var t *time.Time
		if l.GetContactTime() != nil {
			at := l.GetContactTime().AsTime()
			t = &at
		}
		ls = append(ls, store.LastFollowUp{CustomerID: l.GetCustomerId(), At: t, Version: ev.GetEntityVersion()})
	}
	if len(ls) == 0 {
		return nil
	}
	return d.store.SetLastFollowUps(ctx, ls)
}

// ApplyLevels handles a batch of customer_level.changed events in one statement.
func (d *Derived) ApplyLevels(ctx context.Context, evs []*eventsv1.Event) error {
	ls := make([]store.Level, 0, len(evs))
	for _, ev := range evs {
		if ev.GetType() != "customer_level.changed" {
			continue
		}
		var l taggingv1.CustomerLevel
		if err := ev.GetData().UnmarshalTo(&l); err != nil {
			return fmt.Errorf("level event %s: %w", ev.GetId(), err)
		}
		if l.GetCustomerId() == "" {
			continue
		}
		ls = append(ls, store.Level{CustomerID: l.GetCustomerId(), Level: l.GetLevel(), Version: ev.GetEntityVersion()})
	}
	if len(ls) == 0 {
		return nil
	}
	return d.store.SetLevels(ctx, ls)
}

// Run consumes both kinds of events until ctx is done. Each has its own durable consumer with one
// filter subject (NATS servers before 2.10 take only one), and takes its events in batches: one
// commit for many instead of one each, a third of what a follow-up's create cost this service's
// database connection.
func (d *Derived) Run(ctx context.Context, js jetstream.JetStream, nc *nats.Conn) error {
	dead := func(_ context.Context, seq uint64, _ *jetstream.RawStreamMsg, reason string) error {
		d.log.Error("event not applied to customer", "stream_seq", seq, "reason", reason)
		return nil
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		// customer-followups read followup.created/updated and kept the latest contact time ever
		// recorded, which a deleted or back-dated record could not move back.
		return events.ConsumeBatch(ctx, js, nc, events.ConsumerConfig{Durable: "customer-last-followup",
			FilterSubjects: []string{"crm.followup.customer_last_followup.>"}, ChangedFieldsOnly: true,
			Replaces: []string{"customer-followups"}}, d.ApplyLastFollowUps, dead, d.log)
	})
	g.Go(func() error {
		return events.ConsumeBatch(ctx, js, nc, events.ConsumerConfig{Durable: "customer-levels",
			FilterSubjects: []string{"crm.tagging.customer_level.>"}, ChangedFieldsOnly: true}, d.ApplyLevels, dead, d.log)
	})
	return g.Wait()
}
