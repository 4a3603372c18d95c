package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crmsuite/crm/pkg/customerref"
	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/validate"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
)

// ApplyCustomerEvent keeps both projections of customers from one customer event: customer_refs
// (owner, team, deleted, merged; pkg/customerref) and customer_attrs (type, status, province);
// other events are ignored. It is idempotent and ignores events older than the rows it has.
func (s *Store) ApplyCustomerEvent(ctx context.Context, ev *eventsv1.Event) error {
	return s.ApplyCustomerEvents(ctx, []*eventsv1.Event{ev})
}

// ApplyCustomerEvents is ApplyCustomerEvent for several events, each decoded once: one statement
// per projection, both in one round trip and one transaction (of several events of one customer
// the newest counts, as ON CONFLICT may not touch a row twice).
func (s *Store) ApplyCustomerEvents(ctx context.Context, evs []*eventsv1.Event) error {
	changes, err := customerref.Newest(evs)
	if err != nil || len(changes) == 0 {
		return err
	}
	b := &pgx.Batch{}
	customerref.QueueRefs(b, changes)
	queueCustomerAttrs(b, changes)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("store customer refs and attributes: %w", err)
	}
	return nil
}

// attrFields are the customer fields customer_attrs holds, as the events' change lists name them.
var attrFields = []string{"type", "status", "address.province"}

// queueCustomerAttrs queues on b the statements that keep customer_attrs from changes. As with
// customerref.QueueRefs, a change that touches none of attrFields rewrites a row only when its
// values differ (a row a lost event left behind), not to raise its version.
func queueCustomerAttrs(b *pgx.Batch, changes []customerref.Change) {
	touching, others := customerref.Split(changes, attrFields...)
	queueAttrs(b, touching, "customer_attrs.version < excluded.version")
	queueAttrs(b, others, `customer_attrs.version < excluded.version AND
			(customer_attrs.type, customer_attrs.status, customer_attrs.province) IS DISTINCT FROM
			(excluded.type, excluded.status, excluded.province)`)
}

// queueAttrs queues the upsert of changes into customer_attrs, updating an existing row where the
// condition (one of queueCustomerAttrs' constants) holds; nothing when there are no changes.
func queueAttrs(b *pgx.Batch, changes []customerref.Change, condition string) {
	n := len(changes)
	if n == 0 {
		return
	}
	ids, types, statuses, provinces, versions := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]int64, n)
	for i, ch := range changes {
		c := ch.Customer
		ids[i], provinces[i], versions[i] = c.GetCustomerId(), c.GetAddress().GetProvince(), ch.Version
		if c.GetType() != customerv1.CustomerType_CUSTOMER_TYPE_UNSPECIFIED {
			types[i] = strings.ToLower(strings.TrimPrefix(c.GetType().String(), "CUSTOMER_TYPE_"))
		}
		if c.GetStatus() != customerv1.CustomerStatus_CUSTOMER_STATUS_UNSPECIFIED {
			statuses[i] = strings.ToLower(strings.TrimPrefix(c.GetStatus().String(), "CUSTOMER_STATUS_"))
		}
		if p, ok := validate.Province(provinces[i]); ok {
			provinces[i] = p
		}
	}
	b.Queue(`INSERT INTO customer_attrs (customer_id, type, status, province, version)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])
		ON CONFLICT (customer_id) DO UPDATE SET type = excluded.type, status = excluded.status,
			province = excluded.province, version = excluded.version, updated_at = now()
		WHERE `+condition,
		ids, types, statuses, provinces, versions)
}

// customerEventsConsumer is the durable consumer that keeps both projections of customers. It
// replaces the earlier versions' two, one per projection, and takes over where the one further
// behind had got to (events.ConsumerConfig.Replaces).
const customerEventsConsumer = "tagging-customer-projections"

var replacedCustomerConsumers = []string{"tagging-customers", "tagging-customer-attrs"}

// ConsumeCustomerEvents keeps customer_refs and customer_attrs up to date from the customer events
// until ctx is done, in batches of what has arrived (events.ConsumeBatch: one round trip and one
// commit per batch for both, not per event and projection).
func (s *Store) ConsumeCustomerEvents(ctx context.Context, js jetstream.JetStream, nc *nats.Conn, log *slog.Logger) error {
	return events.ConsumeBatch(ctx, js, nc, events.ConsumerConfig{
		Durable:           customerEventsConsumer,
		Replaces:          replacedCustomerConsumers,
		FilterSubjects:    []string{"crm.customer.customer.>"},
		ChangedFieldsOnly: true,
	}, s.ApplyCustomerEvents, func(_ context.Context, seq uint64, _ *jetstream.RawStreamMsg, reason string) error {
		// The customer's next event rewrites both rows (and a missing ref is looked up through
		// the customer service's API), so a dropped event is repaired then.
		log.Error("customer event dropped from the customer projections", "stream_seq", seq, "reason", reason)
		return nil
	}, log)
}
