package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crmsuite/crm/pkg/events"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/services/audit/internal/audit"
	"github.com/crmsuite/crm/services/audit/internal/store"
)

// ConsumerName is the durable JetStream consumer shared by all audit replicas.
const ConsumerName = "audit"

// ConsumerConfig is how the audit service consumes: every CRM event, in batches of what has
// arrived (one transaction each), one batch at a time per replica, so that records enter the
// chain in stream order on the happy path.
//
// A batch starts at most every 20 ms, not events.DefaultBatchInterval's 50: the audit record is
// what users read to see who changed what, and the interval is half the lag an event waits on
// average. With the relay's 20 ms rounds it halved the lag's p50 at 300 creates/s (55 to 25 ms)
// for about 40 µs more CPU per create at 1,000/s, where the machine is short of it, and 250 µs at
// 300/s, where it is not (docs/benchmarks.md, "Customers the services use").
func ConsumerConfig() events.ConsumerConfig {
	return events.ConsumerConfig{
		Durable:        ConsumerName,
		FilterSubjects: []string{"crm.>"},
		Concurrency:    1,
		BatchInterval:  20 * time.Millisecond,
	}
}

// Ingest records every CRM change event until ctx is done (see events.Consume); run it next to
// the gRPC server.
func (s *Server) Ingest(ctx context.Context, js jetstream.JetStream, nc *nats.Conn) error {
	return events.ConsumeBatch(ctx, js, nc, ConsumerConfig(), s.HandleEvents, s.DeadLetter, s.log)
}

// HandleEvents appends a batch of events to the chain in one transaction; like HandleEvent it
// skips events already recorded. An event that cannot be recorded fails the batch; the consumer
// then hands the events over one at a time, and that one ends as a dead letter.
func (s *Server) HandleEvents(ctx context.Context, evs []*eventsv1.Event) error {
	now := time.Now()
	es := make([]audit.Entry, len(evs))
	for i, ev := range evs {
		e, err := audit.FromEvent(ev, now)
		if err != nil {
			return err
		}
		es[i] = e
	}
	n, err := s.store.AppendBatch(ctx, es)
	if err != nil {
		return err
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "audit events recorded", slog.Int("events", len(evs)), slog.Int("new", n))
	return nil
}

// HandleEvent appends ev to the chain. It is idempotent: an event already recorded (redelivered,
// or published twice under different message ids) is skipped. ctx carries the producer's trace,
// continued by the consumer span events.Consume starts. An event that cannot be recorded
// (audit.ErrInvalidEvent) fails every delivery and so ends as a dead letter.
func (s *Server) HandleEvent(ctx context.Context, ev *eventsv1.Event) error {
	e, err := audit.FromEvent(ev, time.Now())
	if err != nil {
		return err
	}
	rec, dup, err := s.store.Append(ctx, e)
	if err != nil {
		return err
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "audit event recorded",
		slog.String("event_id", rec.EventID), slog.String("event_type", rec.EventType),
		slog.Int64("sequence", rec.Sequence), slog.Bool("duplicate", dup))
	return nil
}

// DeadLetter keeps a message the consumer gave up on in the dead_letters table. The audit log
// then misses a change, so it is logged as an error for an operator to replay.
func (s *Server) DeadLetter(ctx context.Context, streamSeq uint64, msg *jetstream.RawStreamMsg, reason string) error {
	d := store.DeadLetter{StreamSeq: streamSeq, Reason: reason}
	if msg != nil {
		d.Subject = msg.Subject
		d.Headers = msg.Header
		d.Data = msg.Data
		d.MsgID = msg.Header.Get(jetstream.MsgIDHeader)
	}
	if err := s.store.AddDeadLetter(ctx, d); err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	s.log.LogAttrs(ctx, slog.LevelError, "audit event dead-lettered; the audit log misses it until replayed",
		slog.Uint64("stream_seq", streamSeq), slog.String("subject", d.Subject), slog.String("msg_id", d.MsgID),
		slog.String("reason", reason))
	return nil
}
