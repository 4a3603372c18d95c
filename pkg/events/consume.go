package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Reasons handed to a DeadLetter func. The reason starts with one of these codes; for
// ReasonMaxDeliveries the code is followed by ": " and the last handler error this process saw,
// when it saw one; for ReasonUndecodable by ": " and the decoding error.
const (
	ReasonUndecodable   = "undecodable"
	ReasonMaxDeliveries = "max_deliveries"
)

// Defaults of ConsumerConfig.
const (
	DefaultMaxDeliver    = 10
	DefaultAckWait       = 30 * time.Second
	DefaultMaxAckPending = 1000
	DefaultBatchSize     = 100
	DefaultBatchInterval = 50 * time.Millisecond
)

// DefaultBackoff is the redelivery delay after the 1st, 2nd, … failed delivery of a message; the
// last entry repeats.
var DefaultBackoff = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute,
}

// tracerName is the OpenTelemetry instrumentation scope of consumer spans.
const tracerName = "crm/events"

// ConsumerConfig configures a durable pull consumer on the CRM_EVENTS stream.
type ConsumerConfig struct {
	// Durable is the consumer's name, e.g. "audit"; all replicas of a service share it.
	Durable string
	// FilterSubjects selects the events, e.g. []string{"crm.>"} or
	// []string{"crm.customer.customer.>"}; empty means all. More than one needs NATS 2.10 or later.
	FilterSubjects []string
	// MaxDeliver is how often a message is delivered before it is dead-lettered; default 10.
	MaxDeliver int
	// Backoff is the redelivery delay after each failed delivery, applied with a delayed Nak; the
	// last entry repeats. Default DefaultBackoff; its length must be below MaxDeliver.
	Backoff []time.Duration
	// AckWait is how long a delivered message may stay unacknowledged (the handler running, or the
	// process dead) before the server delivers it again; it also bounds each handler call.
	// Default 30s.
	AckWait time.Duration
	// Concurrency is the number of handler goroutines; default 1, which keeps handling in stream
	// order on the happy path (a failed message is retried after later ones).
	Concurrency int
	// MaxAckPending caps the messages delivered but not yet acknowledged; default 1000. Set 1 for
	// strict one-at-a-time order even across retries, at the price of stalling behind a failure.
	MaxAckPending int
	// BatchSize is the most events ConsumeBatch hands to its handler at once; default 100.
	// Consume ignores it.
	BatchSize int
	// BatchInterval is the least time between the starts of two batches of ConsumeBatch;
	// default DefaultBatchInterval, negative for none. While events keep coming, the consumer
	// waits for the rest of the interval before it takes the next batch, so that a busy consumer
	// handles them in fewer, larger batches (each a transaction and a commit, the bulk of a
	// small batch's cost), at the price of at most this much latency; an event that arrives after
	// a quiet interval is handled at once, and a backlog (full batches) without pause. Consume
	// ignores it.
	BatchInterval time.Duration
	// ChangedFieldsOnly hands over events whose changes carry only their field names, the
	// values before and after left out (DecodeChangedFields), for handlers that read the envelope,
	// the data and which fields changed, as projections do. Decoding the values is most of the
	// cost of decoding an event.
	ChangedFieldsOnly bool
	// Replaces names durable consumers of an earlier version whose work this one takes over, e.g.
	// two consumers of the same events merged into one. When this consumer does not exist yet it
	// starts after the last event that all of them had acknowledged, so that nothing one of them
	// still had to handle is skipped (events that some had handled come again: handlers are
	// idempotent); once it exists they are deleted, on every start, so that one re-created by a
	// replica of the earlier version during a rolling upgrade does not linger.
	Replaces []string
}

// decode is the decoding the consumer's handlers need.
func (cfg ConsumerConfig) decode(data []byte) (*eventsv1.Event, error) {
	if cfg.ChangedFieldsOnly {
		return DecodeChangedFields(data)
	}
	return Decode(data)
}

// Handler handles one event. It commits its own transaction before returning nil; the message is
// acknowledged after that. An error makes the message come back after the back-off delay, so a
// handler must be idempotent (use the event id as key).
type Handler func(ctx context.Context, ev *eventsv1.Event) error

// DeadLetter receives, once per message, a message that can never be handled: undecodable ones
// (reason starting with ReasonUndecodable) and ones whose deliveries are exhausted (reason
// starting with ReasonMaxDeliveries). The consumer's owner stores it, e.g. in a dead-letter table.
// msg is the message as stored in the stream; streamSeq its sequence there.
type DeadLetter func(ctx context.Context, streamSeq uint64, msg *jetstream.RawStreamMsg, reason string) error

// withDefaults fills the zero fields of cfg and checks the rest.
func (cfg ConsumerConfig) withDefaults() (ConsumerConfig, error) {
	if err := checkToken(cfg.Durable); err != nil {
		return cfg, fmt.Errorf("durable name: %w", err)
	}
	if cfg.MaxDeliver == 0 {
		cfg.MaxDeliver = DefaultMaxDeliver
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.AckWait == 0 {
		cfg.AckWait = DefaultAckWait
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 1
	}
	if cfg.MaxAckPending == 0 {
		cfg.MaxAckPending = DefaultMaxAckPending
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.BatchInterval == 0 {
		cfg.BatchInterval = DefaultBatchInterval
	}
	switch {
	case cfg.MaxDeliver < 1:
		return cfg, fmt.Errorf("max deliver must be ≥ 1, got %d", cfg.MaxDeliver)
	case len(cfg.Backoff) == 0:
		return cfg, errors.New("backoff must not be empty")
	case len(cfg.Backoff) >= cfg.MaxDeliver:
		return cfg, fmt.Errorf("backoff has %d delays, must be fewer than max deliver %d", len(cfg.Backoff), cfg.MaxDeliver)
	case cfg.AckWait < time.Second:
		return cfg, fmt.Errorf("ack wait must be ≥ 1s, got %s", cfg.AckWait)
	case cfg.Concurrency < 1:
		return cfg, fmt.Errorf("concurrency must be ≥ 1, got %d", cfg.Concurrency)
	case cfg.MaxAckPending < 1:
		return cfg, fmt.Errorf("max ack pending must be ≥ 1, got %d", cfg.MaxAckPending)
	case cfg.BatchSize < 1:
		return cfg, fmt.Errorf("batch size must be ≥ 1, got %d", cfg.BatchSize)
	}
	for _, d := range cfg.Backoff {
		if d <= 0 {
			return cfg, fmt.Errorf("backoff delays must be positive, got %s", d)
		}
	}
	for _, name := range cfg.Replaces {
		if err := checkToken(name); err != nil || name == cfg.Durable {
			return cfg, fmt.Errorf("replaced consumer %q: must be a valid durable name other than %q", name, cfg.Durable)
		}
	}
	return cfg, nil
}

// Consume runs the durable pull consumer cfg.Durable on CRM_EVENTS until ctx is done, handing each
// event to h with cfg.Concurrency goroutines, and returns ctx.Err() then. An invalid cfg is
// returned as an error at once; while NATS or the stream is unavailable it keeps retrying (nats.go
// reconnects the connection itself), unless nc is closed for good.
//
// A message is acknowledged after h returns nil. When h fails the message is Nak'ed with the
// back-off delay for its delivery count; the consumer's AckWait applies while h runs, so a slow
// handler is not redelivered under its feet (the server's own BackOff would shorten the first
// AckWait to its first delay). A message that cannot be decoded is terminated and handed to dl.
// A message delivered MaxDeliver times without success is handed to dl once, found through the
// JetStream MAX_DELIVERIES advisory, which replicas receive through a queue group; an advisory
// sent while no replica is subscribed is lost, but the message stays in the stream (30 days).
//
// The ctx given to h carries the producer's trace and a consumer span. At shutdown, handlers that
// are running finish with their own deadline (AckWait), not the cancelled ctx, so their work is
// committed and acknowledged rather than thrown away; close nc only after Consume returns.
func Consume(ctx context.Context, js jetstream.JetStream, nc *nats.Conn, cfg ConsumerConfig,
	h Handler, dl DeadLetter, log *slog.Logger) error {
	if h == nil {
		return errors.New("events: consume: handler and dead-letter func are required")
	}
	return consume(ctx, js, nc, cfg, &consumer{handle: h, dead: dl}, log)
}

// consume runs c (its handler and dead-letter func set) as Consume describes.
func consume(ctx context.Context, js jetstream.JetStream, nc *nats.Conn, cfg ConsumerConfig, c *consumer, log *slog.Logger) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return fmt.Errorf("events: consume: %w", err)
	}
	if c.dead == nil {
		return errors.New("events: consume: handler and dead-letter func are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c.js, c.cfg = js, cfg
	c.log = log.With(slog.String("consumer", cfg.Durable))
	c.tracer = otel.GetTracerProvider().Tracer(tracerName)
	c.lastErr = map[uint64]string{}

	// The advisory subscription lives as long as Consume, across consumer re-creations.
	advisory := "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + StreamName + "." + cfg.Durable
	sub, err := nc.QueueSubscribe(advisory, "dead-letter."+cfg.Durable, func(m *nats.Msg) {
		c.onMaxDeliveries(ctx, m)
	})
	if err != nil {
		return fmt.Errorf("events: consume: subscribe to %s: %w", advisory, err)
	}
	defer func() { _ = sub.Unsubscribe() }()

	delay := backoffStart
	for {
		started, err := c.run(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if nc.IsClosed() {
			return fmt.Errorf("events: consume %s: connection closed: %w", cfg.Durable, err)
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.Code == 400 {
			// The server rejects this consumer's configuration; retrying cannot help.
			return fmt.Errorf("events: consume %s: %w", cfg.Durable, err)
		}
		if errors.Is(err, jetstream.ErrConsumerMultipleFilterSubjectsNotSupported) {
			// A server before 2.10 ignores the filter subjects and delivers everything.
			return fmt.Errorf("events: consume %s: NATS server %s is too old: consumers with several filter subjects need 2.10 or later: %w",
				cfg.Durable, nc.ConnectedServerVersion(), err)
		}
		if started {
			delay = backoffStart // it worked for a while; this is a new interruption
		}
		if err != nil {
			c.log.LogAttrs(ctx, slog.LevelWarn, "events: consumer interrupted, retrying",
				slog.String("error", err.Error()), slog.Duration("retry_in", delay))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, backoffMax)
	}
}

// Retry delays of Consume while the stream or NATS is unavailable.
const (
	backoffStart = 500 * time.Millisecond
	backoffMax   = 10 * time.Second
)

// maxLastErrors bounds the remembered handler errors (used to explain dead letters).
const maxLastErrors = 10000

type consumer struct {
	js     jetstream.JetStream
	cfg    ConsumerConfig
	handle Handler
	// batch, when set (ConsumeBatch), handles the events instead of handle.
	batch  BatchHandler
	dead   DeadLetter
	log    *slog.Logger
	tracer trace.Tracer

	mu      sync.Mutex
	lastErr map[uint64]string // stream sequence → last handler error, until acked or dead-lettered
}

// freshen replaces a durable consumer whose position lies beyond the end of the stream. That
// happens when the stream was deleted and created again, or purged with its sequence reset, while
// the consumer survived: it would silently skip every new event up to its old position.
func (c *consumer) freshen(ctx context.Context, cons jetstream.Consumer, cc jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	stream, err := c.js.Stream(ctx, StreamName)
	if err != nil {
		return nil, fmt.Errorf("stream info: %w", err)
	}
	last := stream.CachedInfo().State.LastSeq
	if delivered := cons.CachedInfo().Delivered.Stream; delivered <= last {
		return cons, nil
	}
	c.log.LogAttrs(ctx, slog.LevelWarn, "events: consumer is ahead of its stream (stream re-created?); starting it again",
		slog.String("durable", cc.Durable), slog.Uint64("delivered", cons.CachedInfo().Delivered.Stream), slog.Uint64("stream_last", last))
	if err := c.js.DeleteConsumer(ctx, StreamName, cc.Durable); err != nil {
		return nil, fmt.Errorf("delete stale consumer: %w", err)
	}
	cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverAllPolicy, 0 // a start taken over from replaced consumers is as stale
	cons, err = c.js.CreateOrUpdateConsumer(ctx, StreamName, cc)
	if err != nil {
		return nil, fmt.Errorf("create consumer: %w", err)
	}
	return cons, nil
}

// startAfterReplaced sets where a consumer with replaced ones starts: where it was created to start
// if it exists (the server refuses to change that), else after the lowest acknowledgement floor
// of the replaced consumers that exist, else at the beginning.
func (c *consumer) startAfterReplaced(ctx context.Context, cc *jetstream.ConsumerConfig) error {
	existing, err := c.js.Consumer(ctx, StreamName, cc.Durable)
	if err == nil {
		created := existing.CachedInfo().Config
		cc.DeliverPolicy, cc.OptStartSeq = created.DeliverPolicy, created.OptStartSeq
		return nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("consumer info: %w", err)
	}
	var start uint64 // 0: none of the replaced consumers exists
	for _, name := range c.cfg.Replaces {
		old, err := c.js.Consumer(ctx, StreamName, name)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("replaced consumer %s: %w", name, err)
		}
		if next := old.CachedInfo().AckFloor.Stream + 1; start == 0 || next < start {
			start = next
		}
	}
	if start > 0 {
		cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, start
		c.log.LogAttrs(ctx, slog.LevelInfo, "events: consumer takes over from replaced ones",
			slog.Any("replaced", c.cfg.Replaces), slog.Uint64("start_seq", start))
	}
	return nil
}

// run creates or updates the consumer and handles messages until ctx is done or the message
// iterator fails; it waits for running handlers before it returns. started reports whether the
// consumer was up.
func (c *consumer) run(ctx context.Context) (started bool, err error) {
	cc := jetstream.ConsumerConfig{
		Durable:       c.cfg.Durable,
		Description:   "crm events consumer " + c.cfg.Durable,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.cfg.AckWait,
		MaxDeliver:    c.cfg.MaxDeliver,
		MaxAckPending: c.cfg.MaxAckPending,
	}
	// One subject goes in FilterSubject: servers before 2.10 (Debian 12 ships 2.9) refuse
	// FilterSubjects even with a single entry. Several need 2.10 (see consume).
	if len(c.cfg.FilterSubjects) == 1 {
		cc.FilterSubject = c.cfg.FilterSubjects[0]
	} else {
		cc.FilterSubjects = c.cfg.FilterSubjects
	}
	if len(c.cfg.Replaces) > 0 {
		if err := c.startAfterReplaced(ctx, &cc); err != nil {
			return false, err
		}
	}
	cons, err := c.js.CreateOrUpdateConsumer(ctx, StreamName, cc)
	if err != nil {
		return false, fmt.Errorf("create consumer: %w", err)
	}
	if cons, err = c.freshen(ctx, cons, cc); err != nil {
		return false, err
	}
	for _, name := range c.cfg.Replaces {
		switch err := c.js.DeleteConsumer(ctx, StreamName, name); {
		case err == nil:
			c.log.LogAttrs(ctx, slog.LevelInfo, "events: replaced consumer deleted", slog.String("replaced", name))
		case !errors.Is(err, jetstream.ErrConsumerNotFound):
			return false, fmt.Errorf("delete replaced consumer %s: %w", name, err)
		}
	}
	// A small client-side buffer: buffered messages are already delivered and their AckWait runs,
	// so a deep buffer behind a slow handler would be redelivered while still waiting here. A
	// batch consumer buffers two batches: one being handled, the next arriving.
	buffer := max(2*c.cfg.Concurrency, 8)
	if c.batch != nil {
		buffer = max(2*c.cfg.BatchSize, 8)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(buffer))
	if err != nil {
		return false, fmt.Errorf("pull messages: %w", err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	if c.batch != nil {
		return true, c.runBatches(ctx, it)
	}

	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		runErr  error
	)
	for range c.cfg.Concurrency {
		wg.Go(func() {
			for {
				msg, err := it.Next()
				if err != nil {
					if ctx.Err() == nil {
						errOnce.Do(func() { runErr = err })
					}
					it.Stop() // let the other workers return too
					return
				}
				c.process(ctx, msg)
			}
		})
	}
	wg.Wait()
	return true, runErr
}

// process handles one delivered message and acknowledges, naks or terminates it.
func (c *consumer) process(ctx context.Context, msg jetstream.Msg) {
	// Handlers outlive a shutdown signal: the work in flight is finished and acknowledged.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.AckWait)
	defer cancel()

	md, err := msg.Metadata()
	if err != nil {
		// Not a JetStream message; nothing to acknowledge.
		c.log.LogAttrs(hctx, slog.LevelError, "events: message without metadata", slog.String("error", err.Error()))
		return
	}
	seq := md.Sequence.Stream
	ev, err := c.cfg.decode(msg.Data())
	if err != nil {
		c.deadLetterUndecodable(hctx, msg, seq, err)
		return
	}
	c.handleOne(hctx, msg, md, ev, c.handle)
}

// handleOne runs h on one decoded event and acknowledges the message, or naks it with the
// back-off for its delivery count. ctx carries the handler's deadline.
func (c *consumer) handleOne(hctx context.Context, msg jetstream.Msg, md *jetstream.MsgMetadata, ev *eventsv1.Event, h Handler) {
	seq := md.Sequence.Stream
	hctx, span := c.tracer.Start(ContextFrom(hctx, ev), "process "+msg.Subject(),
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", msg.Subject()),
			attribute.String("messaging.consumer.group.name", c.cfg.Durable),
			attribute.String("messaging.message.id", ev.GetId()),
			attribute.Int64("messaging.nats.delivery_count", int64(md.NumDelivered)),
		))
	defer span.End()

	if err := h(hctx, ev); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "handler failed")
		c.rememberError(seq, err)
		delay, text := c.retryDelay(md.NumDelivered), "events: handler failed, will retry"
		if delay == 0 {
			text = "events: handler failed on the last delivery, dead-lettering"
		}
		c.log.LogAttrs(hctx, slog.LevelWarn, text,
			slog.String("event_id", ev.GetId()), slog.String("event_type", ev.GetType()),
			slog.Uint64("stream_seq", seq), slog.Uint64("delivery", md.NumDelivered),
			slog.Duration("retry_in", delay), slog.String("error", err.Error()))
		if err := nak(msg, delay); err != nil {
			c.log.LogAttrs(hctx, slog.LevelWarn, "events: nak failed; the server redelivers after AckWait",
				slog.Uint64("stream_seq", seq), slog.String("error", err.Error()))
		}
		return
	}
	c.forgetError(seq)
	if err := msg.Ack(); err != nil {
		span.RecordError(err)
		c.log.LogAttrs(hctx, slog.LevelWarn, "events: ack failed; the event will be delivered again",
			slog.String("event_id", ev.GetId()), slog.Uint64("stream_seq", seq), slog.String("error", err.Error()))
	}
}

// retryDelay is the back-off before the next delivery after the delivered-th failed; 0 after the
// last delivery, when none follows: an immediate Nak makes the server send the MAX_DELIVERIES
// advisory now instead of after a delay.
func (c *consumer) retryDelay(delivered uint64) time.Duration {
	if delivered >= uint64(c.cfg.MaxDeliver) {
		return 0
	}
	return c.cfg.Backoff[min(max(int(delivered), 1), len(c.cfg.Backoff))-1]
}

func nak(msg jetstream.Msg, delay time.Duration) error {
	if delay <= 0 {
		return msg.Nak()
	}
	return msg.NakWithDelay(delay)
}

// deadLetterUndecodable hands an undecodable message to the dead-letter func and terminates it;
// if storing it fails, the message is nak'ed and comes back (and ends in the MAX_DELIVERIES path).
func (c *consumer) deadLetterUndecodable(ctx context.Context, msg jetstream.Msg, seq uint64, decodeErr error) {
	md, _ := msg.Metadata() // checked by the caller
	raw := &jetstream.RawStreamMsg{
		Subject:  msg.Subject(),
		Sequence: seq,
		Header:   msg.Headers(),
		Data:     msg.Data(),
		Time:     md.Timestamp,
	}
	c.log.LogAttrs(ctx, slog.LevelError, "events: undecodable message, dead-lettering",
		slog.String("subject", msg.Subject()), slog.Uint64("stream_seq", seq), slog.String("error", decodeErr.Error()))
	if err := c.dead(ctx, seq, raw, ReasonUndecodable+": "+decodeErr.Error()); err != nil {
		c.log.LogAttrs(ctx, slog.LevelError, "events: dead letter failed, will retry",
			slog.Uint64("stream_seq", seq), slog.String("error", err.Error()))
		_ = nak(msg, c.retryDelay(md.NumDelivered)) // failing, the server redelivers after AckWait
		return
	}
	if err := msg.TermWithReason(ReasonUndecodable); err != nil {
		c.log.LogAttrs(ctx, slog.LevelWarn, "events: term failed", slog.Uint64("stream_seq", seq), slog.String("error", err.Error()))
	}
}

// maxDeliveriesAdvisory is the part of io.nats.jetstream.advisory.v1.max_deliver that we read.
type maxDeliveriesAdvisory struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// deadLetterAttempts and deadLetterRetry bound the retries of storing one dead letter from an
// advisory, which the server does not resend.
const (
	deadLetterAttempts = 5
	deadLetterRetry    = time.Second
)

// onMaxDeliveries handles a MAX_DELIVERIES advisory: it fetches the message from the stream and
// hands it to the dead-letter func, retrying a few times because the advisory is not redelivered.
func (c *consumer) onMaxDeliveries(ctx context.Context, m *nats.Msg) {
	var adv maxDeliveriesAdvisory
	if err := json.Unmarshal(m.Data, &adv); err != nil || adv.StreamSeq == 0 {
		c.log.LogAttrs(ctx, slog.LevelError, "events: unreadable max-deliveries advisory", slog.Any("error", err))
		return
	}
	reason := ReasonMaxDeliveries + " (" + strconv.FormatUint(adv.Deliveries, 10) + ")"
	if last := c.takeError(adv.StreamSeq); last != "" {
		reason += ": " + last
	}
	dctx := context.WithoutCancel(ctx)
	var err error
	for attempt := range deadLetterAttempts {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				// Shutting down: another replica cannot get this advisory any more, so log it.
				c.log.LogAttrs(dctx, slog.LevelError, "events: dead letter lost at shutdown; the message is still in the stream",
					slog.Uint64("stream_seq", adv.StreamSeq), slog.String("error", err.Error()))
				return
			case <-time.After(deadLetterRetry * time.Duration(attempt)):
			}
		}
		var stream jetstream.Stream
		var raw *jetstream.RawStreamMsg
		opctx, cancel := context.WithTimeout(dctx, c.cfg.AckWait)
		stream, err = c.js.Stream(opctx, StreamName)
		if err == nil {
			raw, err = stream.GetMsg(opctx, adv.StreamSeq)
		}
		if err == nil {
			err = c.dead(opctx, adv.StreamSeq, raw, reason)
		}
		cancel()
		if err == nil {
			c.log.LogAttrs(ctx, slog.LevelWarn, "events: message dead-lettered after max deliveries",
				slog.Uint64("stream_seq", adv.StreamSeq), slog.Uint64("deliveries", adv.Deliveries))
			return
		}
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break // aged out or deleted; nothing left to store
		}
	}
	c.log.LogAttrs(ctx, slog.LevelError, "events: dead letter lost; the message is still in the stream",
		slog.Uint64("stream_seq", adv.StreamSeq), slog.String("error", err.Error()))
}

// rememberError keeps the last handler error of a message to explain a later dead letter.
func (c *consumer) rememberError(seq uint64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.lastErr[seq]; ok || len(c.lastErr) < maxLastErrors {
		c.lastErr[seq] = err.Error()
	}
}

func (c *consumer) forgetError(seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.lastErr, seq)
}

func (c *consumer) takeError(seq uint64) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.lastErr[seq]
	delete(c.lastErr, seq)
	return e
}
