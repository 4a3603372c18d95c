package events

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
)

// BatchHandler handles several events at once, in stream order, typically in one database
// transaction, and commits before returning nil; the messages are acknowledged after that. It
// must be idempotent like a Handler: an error makes every event of the batch come back.
type BatchHandler func(ctx context.Context, evs []*eventsv1.Event) error

// ConsumeBatch is Consume for handlers that do better with several events at a time: one
// transaction, one statement and one commit for many events instead of one each, which is what
// makes a consumer keep up when events arrive by the thousand per second.
//
// A batch is whatever has arrived, up to cfg.BatchSize, by the time the handler is free and
// cfg.BatchInterval has passed since the last batch started: the consumer never waits for a batch
// to fill, so at a low rate every batch is a single event handled at once, under a steady
// stream at most one batch starts per interval, and a backlog (full batches) is worked off
// without pause. Batches are handled one at a time in stream order (cfg.Concurrency is
// ignored). When the handler fails, the batch's events are handled again one by one, each in a
// batch of its own, so that one bad event is retried with back-off and dead-lettered alone while
// the others are acknowledged. Everything else (decoding, dead letters, shutdown, reconnects,
// traces) is as in Consume; each event's consumer span is linked from the batch's span.
func ConsumeBatch(ctx context.Context, js jetstream.JetStream, nc *nats.Conn, cfg ConsumerConfig,
	h BatchHandler, dl DeadLetter, log *slog.Logger) error {
	if h == nil {
		return errors.New("events: consume: handler and dead-letter func are required")
	}
	cfg.Concurrency = 1
	return consume(ctx, js, nc, cfg, &consumer{batch: h, dead: dl}, log)
}

// delivered is one received message with its metadata and decoded event.
type delivered struct {
	msg jetstream.Msg
	md  *jetstream.MsgMetadata
	ev  *eventsv1.Event
}

// runBatches reads messages from it and hands them to the batch handler until the iterator
// stops; it returns the iterator's error unless ctx ended.
func (c *consumer) runBatches(ctx context.Context, it jetstream.MessagesContext) error {
	msgs := make(chan jetstream.Msg, c.cfg.BatchSize)
	errc := make(chan error, 1)
	go func() {
		defer close(msgs)
		for {
			msg, err := it.Next()
			if err != nil {
				errc <- err
				return
			}
			msgs <- msg
		}
	}()
	var started time.Time
	backlog := false // more events were waiting after the last batch: take the next at once
	for {
		first, ok := <-msgs
		if !ok {
			break
		}
		if rest := c.cfg.BatchInterval - time.Since(started); rest > 0 && !backlog {
			t := time.NewTimer(rest)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
		started = time.Now()
		batch := []jetstream.Msg{first}
	fill:
		for len(batch) < c.cfg.BatchSize {
			select {
			case m, ok := <-msgs:
				if !ok {
					break fill
				}
				batch = append(batch, m)
			default:
				break fill
			}
		}
		backlog = len(batch) == c.cfg.BatchSize || waiting(batch[len(batch)-1]) > 0
		if ctx.Err() != nil {
			continue // shutting down: unacknowledged messages are delivered again later
		}
		c.processBatch(ctx, batch)
	}
	if err := <-errc; ctx.Err() == nil {
		return err
	}
	return nil
}

// waiting is how many of the consumer's events the stream held, not yet delivered, when msg was
// delivered (0 if its metadata cannot be read).
func waiting(msg jetstream.Msg) uint64 {
	md, err := msg.Metadata()
	if err != nil {
		return 0
	}
	return md.NumPending
}

// processBatch decodes a batch (dead-lettering what cannot be decoded), hands the events to the
// batch handler and acknowledges them, or, when it fails, handles them one at a time.
func (c *consumer) processBatch(ctx context.Context, batch []jetstream.Msg) {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.AckWait)
	defer cancel()
	items := make([]delivered, 0, len(batch))
	for _, msg := range batch {
		md, err := msg.Metadata()
		if err != nil {
			c.log.LogAttrs(hctx, slog.LevelError, "events: message without metadata", slog.String("error", err.Error()))
			continue
		}
		ev, err := c.cfg.decode(msg.Data())
		if err != nil {
			c.deadLetterUndecodable(hctx, msg, md.Sequence.Stream, err)
			continue
		}
		items = append(items, delivered{msg: msg, md: md, ev: ev})
	}
	if len(items) == 0 {
		return
	}
	one := func(ctx context.Context, ev *eventsv1.Event) error { return c.batch(ctx, []*eventsv1.Event{ev}) }
	if len(items) == 1 {
		c.handleOne(hctx, items[0].msg, items[0].md, items[0].ev, one)
		return
	}

	links := make([]trace.Link, len(items))
	evs := make([]*eventsv1.Event, len(items))
	for i, it := range items {
		evs[i] = it.ev
		links[i] = trace.Link{SpanContext: trace.SpanContextFromContext(ContextFrom(context.Background(), it.ev))}
	}
	bctx, span := c.tracer.Start(hctx, "process batch",
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithLinks(links...),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.consumer.group.name", c.cfg.Durable),
			attribute.Int("messaging.batch.message_count", len(items)),
		))
	err := c.batch(bctx, evs)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "batch handler failed")
	}
	span.End()
	if err != nil {
		c.log.LogAttrs(hctx, slog.LevelWarn, "events: batch handler failed, handling its events one by one",
			slog.Int("events", len(items)), slog.String("error", err.Error()))
		for _, it := range items {
			c.handleOne(hctx, it.msg, it.md, it.ev, one)
		}
		return
	}
	for _, it := range items {
		c.forgetError(it.md.Sequence.Stream)
		if err := it.msg.Ack(); err != nil {
			c.log.LogAttrs(hctx, slog.LevelWarn, "events: ack failed; the event will be delivered again",
				slog.String("event_id", it.ev.GetId()), slog.Uint64("stream_seq", it.md.Sequence.Stream), slog.String("error", err.Error()))
		}
	}
}
