package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/testkit"
	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/services/audit/internal/audit"
)

// broker is an embedded JetStream with the CRM stream.
type broker struct {
	nc *nats.Conn
	js jetstream.JetStream
}

func newBroker(t *testing.T) *broker {
	t.Helper()
	nc, js, _ := testkit.StartEventStream(t)
	return &broker{nc: nc, js: js}
}

// publish sends ev; msgID, when set, replaces the Nats-Msg-Id (a second copy that JetStream's
// de-duplication does not catch).
func (b *broker) publish(t *testing.T, ev *eventsv1.Event, msgID string) {
	t.Helper()
	msg, err := events.Message(ev)
	if err != nil {
		t.Fatal(err)
	}
	if msgID != "" {
		msg.Header.Set(jetstream.MsgIDHeader, msgID)
	}
	if _, err := b.js.PublishMsg(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
}

// newEvent builds a customer event under a span, so it carries a traceparent.
func newEvent(t *testing.T, ctx context.Context, entityID, action string, version int64) *eventsv1.Event {
	t.Helper()
	change, err := events.Change("name", "甲公司", "乙公司")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := events.New(ctx, "customer", "customer", action, entityID,
		&commonv1.Actor{UserId: "u-1", Role: "sales", TeamId: "east"}, version, nil, []*commonv1.FieldChange{change})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// consumer runs Ingest until stopped.
type consumer struct {
	cancel context.CancelFunc
	done   chan error
}

func startConsumer(t *testing.T, s *Server, b *broker) *consumer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &consumer{cancel: cancel, done: make(chan error, 1)}
	go func() { c.done <- s.Ingest(ctx, b.js, b.nc) }()
	t.Cleanup(c.stop)
	return c
}

func (c *consumer) stop() {
	c.cancel()
	<-c.done
	c.done <- context.Canceled // later stops return at once
}

// drain waits until the audit consumer has acknowledged everything in the stream.
func (b *broker) drain(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		cons, err := b.js.Consumer(t.Context(), events.StreamName, ConsumerName)
		if err == nil {
			info, err := cons.Info(t.Context())
			if err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0 {
				stream, err := b.js.Stream(t.Context(), events.StreamName)
				if err == nil && stream.CachedInfo().State.LastSeq == info.AckFloor.Stream {
					return
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the audit consumer did not catch up within 20s")
}

// counts returns how many rows each event id has.
func counts(t *testing.T, e *env) map[string]int {
	t.Helper()
	rows, err := e.pool.Query(t.Context(), "SELECT event_id::text, count(*) FROM audit_events GROUP BY event_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestIngestRecordsEachEventOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := newBroker(t)

	// A producer span: the recorded trace id must be its trace id.
	traceID, _ := trace.TraceIDFromHex("0af7651916cd43dd8448eb211c80319c")
	spanID, _ := trace.SpanIDFromHex("b7ad6b7169203331")
	traced := trace.ContextWithSpanContext(t.Context(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled,
	}))

	var sent []*eventsv1.Event
	for i, id := range []string{"CUST-20261123-0001", "CUST-20261123-0002", "CUST-20261123-0001"} {
		ev := newEvent(t, traced, id, "updated", int64(i+1))
		b.publish(t, ev, "")
		sent = append(sent, ev)
	}
	// The relay re-publishing the same message is caught by JetStream; a copy under another
	// message id reaches the consumer and must be caught by the handler.
	b.publish(t, sent[0], "")
	b.publish(t, sent[1], "another-msg-id")

	c := startConsumer(t, e.srv, b)
	b.drain(t)
	c.stop()

	// While the consumer is down: new events, and another copy of an old one.
	for i := range 2 {
		ev := newEvent(t, traced, "CUST-20261123-0003", "updated", int64(i+1))
		b.publish(t, ev, "")
		sent = append(sent, ev)
	}
	b.publish(t, sent[2], "yet-another-msg-id")

	startConsumer(t, e.srv, b)
	b.drain(t)

	got := counts(t, e)
	if len(got) != len(sent) {
		t.Errorf("%d distinct events recorded, want %d", len(got), len(sent))
	}
	for _, ev := range sent {
		if got[ev.GetId()] != 1 {
			t.Errorf("event %s recorded %d times, want once", ev.GetId(), got[ev.GetId()])
		}
	}

	// Stream order became chain order, and the chain is intact.
	recs, err := e.srv.store.List(t.Context(), audit.Filter{}, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		want := sent[len(sent)-1-i]
		if r.EventID != want.GetId() {
			t.Errorf("sequence %d is event %s, want %s", r.Sequence, r.EventID, want.GetId())
		}
		if r.TraceID != traceID.String() {
			t.Errorf("sequence %d trace id = %q, want %s", r.Sequence, r.TraceID, traceID)
		}
	}
	v, err := e.srv.store.Verify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !v.OK || v.Checked != int64(len(sent)) {
		t.Errorf("Verify = %+v, want OK over %d records", v, len(sent))
	}
}

func TestIngestDeadLettersUndecodableMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := newBroker(t)

	bad := nats.NewMsg("crm.customer.customer.updated")
	bad.Data = []byte("not protobuf \xff\xff")
	bad.Header.Set(jetstream.MsgIDHeader, "garbage-1")
	if _, err := b.js.PublishMsg(t.Context(), bad); err != nil {
		t.Fatal(err)
	}
	good := newEvent(t, t.Context(), "CUST-20261123-0001", "created", 1)
	b.publish(t, good, "")

	startConsumer(t, e.srv, b)
	b.drain(t)

	var (
		subject, msgID, reason string
		data                   []byte
	)
	err := e.pool.QueryRow(t.Context(), "SELECT subject, msg_id, reason, data FROM dead_letters WHERE stream_seq = 1").
		Scan(&subject, &msgID, &reason, &data)
	if err != nil {
		t.Fatalf("dead letter of stream message 1: %v", err)
	}
	if subject != bad.Subject || msgID != "garbage-1" || string(data) != string(bad.Data) || len(reason) < len(events.ReasonUndecodable) || reason[:len(events.ReasonUndecodable)] != events.ReasonUndecodable {
		t.Errorf("dead letter = %q %q %q %q", subject, msgID, reason, data)
	}
	if got := counts(t, e); len(got) != 1 || got[good.GetId()] != 1 {
		t.Errorf("recorded %v, want only the good event once", got)
	}
}

func TestHandleEventRefusesUnrecordableEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ev := newEvent(t, t.Context(), "CUST-20261123-0001", "created", 1)
	ev.Id = "not-a-uuid"
	if err := e.srv.HandleEvent(t.Context(), ev); !errors.Is(err, audit.ErrInvalidEvent) {
		t.Fatalf("HandleEvent error = %v, want audit.ErrInvalidEvent", err)
	}
	if got := counts(t, e); len(got) != 0 {
		t.Fatalf("recorded %v, want nothing", got)
	}
}
