package analytics

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crmsuite/crm/pkg/events"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
)

const (
	// StreamName is the JetStream stream of the analytics feed.
	StreamName = "CRM_ANALYTICS"
	// SubjectPrefix comes before an event's own subject in the feed:
	// analytics.crm.customer.customer.created.
	SubjectPrefix = "analytics."
	// ConsumerName is the durable consumer on CRM_EVENTS that feeds the stream.
	ConsumerName = "analytics-feed"

	publishTimeout = 30 * time.Second
	batchInterval  = 200 * time.Millisecond
)

// Stream is the configuration of the CRM_ANALYTICS stream: subjects analytics.crm.>, and the
// settings of CRM_EVENTS (file storage, 30 days, a duplicate window that makes a batch published
// again after a failure land once).
func Stream(replicas int) jetstream.StreamConfig {
	return events.StreamConfig(StreamName, "CRM change events with personal information masked, for analytics (crm.events.v1.Event)",
		SubjectPrefix+"crm.>", replicas)
}

// Feed publishes every CRM event to the analytics stream, masked (MaskPII), until ctx is done.
// It is a batch consumer of CRM_EVENTS: a batch's masked copies are published together and the
// batch is acknowledged once JetStream has stored them all; after a failure the batch comes again
// and the copies already stored are dropped as duplicates (the message id is the event id).
func Feed(ctx context.Context, js jetstream.JetStream, nc *nats.Conn, replicas int, log *slog.Logger) error {
	if err := events.EnsureRetry(ctx, js, Stream(replicas), log); err != nil {
		return err
	}
	publish := func(ctx context.Context, evs []*eventsv1.Event) error {
		acks := make([]jetstream.PubAckFuture, 0, len(evs))
		for _, ev := range evs {
			// The consumer decoded these events for this handler alone: masked in place. After a
			// failed batch they are handed over again one by one, already masked; masking a
			// masked value gives the same value, so they are published the same.
			if err := MaskPII(ev); err != nil {
				return err
			}
			msg, err := events.Message(ev)
			if err != nil {
				return err
			}
			msg.Subject = SubjectPrefix + msg.Subject
			ack, err := js.PublishMsgAsync(msg)
			if err != nil {
				return fmt.Errorf("analytics: publish %s: %w", ev.GetId(), err)
			}
			acks = append(acks, ack)
		}
		timeout := time.NewTimer(publishTimeout)
		defer timeout.Stop()
		for _, ack := range acks {
			select {
			case <-ack.Ok():
			case err := <-ack.Err():
				return fmt.Errorf("analytics: publish %s: %w", ack.Msg().Header.Get(events.HeaderID), err)
			case <-timeout.C:
				return fmt.Errorf("analytics: publish: no acknowledgement within %s", publishTimeout)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	dead := func(_ context.Context, seq uint64, _ *jetstream.RawStreamMsg, reason string) error {
		log.Error("event not published to the analytics feed", "stream_seq", seq, "reason", reason)
		return nil
	}
	// Analytics can wait a fifth of a second for an event; in return a steady stream comes in
	// fewer, larger batches, each of them a wake-up of this consumer and a round of acknowledgements.
	cfg := events.ConsumerConfig{Durable: ConsumerName, BatchSize: 500, BatchInterval: batchInterval}
	return events.ConsumeBatch(ctx, js, nc, cfg, publish, dead, log)
}
