package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/validate"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
)

// ApplyCustomerEvent keeps customer_attrs (type, status, province) from one customer event; other
// events are ignored. It is idempotent and ignores events older than the row it has.
func (s *Store) ApplyCustomerEvent(ctx context.Context, ev *eventsv1.Event) error {
	if ev.GetEntityType() != "customer" || ev.GetData() == nil {
		return nil
	}
	var c customerv1.Customer
	if err := ev.GetData().UnmarshalTo(&c); err != nil {
		return fmt.Errorf("customer event %s: %w", ev.GetId(), err)
	}
	typ, status := "", ""
	if c.GetType() != customerv1.CustomerType_CUSTOMER_TYPE_UNSPECIFIED {
		typ = strings.ToLower(strings.TrimPrefix(c.GetType().String(), "CUSTOMER_TYPE_"))
	}
	if c.GetStatus() != customerv1.CustomerStatus_CUSTOMER_STATUS_UNSPECIFIED {
		status = strings.ToLower(strings.TrimPrefix(c.GetStatus().String(), "CUSTOMER_STATUS_"))
	}
	province := c.GetAddress().GetProvince()
	if p, ok := validate.Province(province); ok {
		province = p
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO customer_attrs (customer_id, type, status, province, version)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (customer_id) DO UPDATE SET type = excluded.type, status = excluded.status,
			province = excluded.province, version = excluded.version, updated_at = now()
		WHERE customer_attrs.version < excluded.version`,
		ev.GetSubject(), typ, status, province, ev.GetEntityVersion())
	if err != nil {
		return fmt.Errorf("store customer attributes of %s: %w", ev.GetSubject(), err)
	}
	return nil
}

// ConsumeCustomerAttrs keeps customer_attrs up to date from the customer events until ctx is
// done, with its own durable consumer (e.g. "tagging-customer-attrs").
func (s *Store) ConsumeCustomerAttrs(ctx context.Context, js jetstream.JetStream, nc *nats.Conn, durable string, log *slog.Logger) error {
	return events.Consume(ctx, js, nc, events.ConsumerConfig{
		Durable:        durable,
		FilterSubjects: []string{"crm.customer.customer.>"},
	}, s.ApplyCustomerEvent, func(_ context.Context, seq uint64, _ *jetstream.RawStreamMsg, reason string) error {
		// The customer's next event rewrites the whole row, so a dropped one is repaired then.
		log.Error("customer event dropped from attributes", "stream_seq", seq, "reason", reason)
		return nil
	}, log)
}
