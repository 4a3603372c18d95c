package events_test

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/crmsuite/crm/pkg/events"
	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
	"github.com/google/uuid"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// newEvent builds a customer.updated event with every field set.
func newEvent(t *testing.T, ctx context.Context, entityID string) *eventsv1.Event {
	t.Helper()
	ch, err := events.Change("mobile", "13800000000", "13900000000")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := events.New(ctx, "customer", "customer", "updated", entityID,
		&commonv1.Actor{UserId: "u-1", Role: "sales", TeamId: "t-1"}, 7,
		wrapperspb.String("entity body"), []*commonv1.FieldChange{ch})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// newEvents returns n events of the entities C000, C001, ….
func newEvents(t *testing.T, n int) []*eventsv1.Event {
	t.Helper()
	evs := make([]*eventsv1.Event, n)
	for i := range evs {
		evs[i] = newEvent(t, context.Background(), fmt.Sprintf("C%03d", i))
	}
	return evs
}

func TestNewFillsEnvelope(t *testing.T) {
	t.Parallel()
	before := time.Now()
	ev := newEvent(t, context.Background(), "CUST-20261123-0001")
	id, err := uuid.Parse(ev.GetId())
	if err != nil || id.Version() != 7 {
		t.Errorf("id %q: want a UUIDv7, got version %d, err %v", ev.GetId(), id.Version(), err)
	}
	checks := []struct{ name, got, want string }{
		{"type", ev.GetType(), "customer.updated"},
		{"source", ev.GetSource(), "customer"},
		{"entity type", ev.GetEntityType(), "customer"},
		{"subject", ev.GetSubject(), "CUST-20261123-0001"},
		{"actor", ev.GetActor().GetUserId(), "u-1"},
		{"subject of message", events.Subject(ev), "crm.customer.customer.updated"},
		{"data type", ev.GetData().GetTypeUrl(), "type.googleapis.com/google.protobuf.StringValue"},
		{"traceparent without a span", ev.GetTraceparent(), ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if ev.GetEntityVersion() != 7 || len(ev.GetChanges()) != 1 {
		t.Errorf("version %d, %d changes; want 7 and 1", ev.GetEntityVersion(), len(ev.GetChanges()))
	}
	ts := ev.GetTime().AsTime()
	if ts.Before(before.Add(-time.Second)) || ts.After(time.Now().Add(time.Second)) {
		t.Errorf("time %s is not now", ts)
	}
}

func TestNewRejectsBadNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                                 string
		source, entityType, action, entityID string
	}{
		{"empty source", "", "customer", "created", "C1"},
		{"dotted source", "cust.omer", "customer", "created", "C1"},
		{"wildcard entity", "customer", "*", "created", "C1"},
		{"space in action", "customer", "customer", "was created", "C1"},
		{"empty action", "customer", "customer", "", "C1"},
		{"empty entity id", "customer", "customer", "created", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := events.New(context.Background(), tt.source, tt.entityType, tt.action, tt.entityID, nil, 1, nil, nil); err == nil {
				t.Error("New succeeded, want an error")
			}
		})
	}
}

func TestMessageHeaders(t *testing.T) {
	t.Parallel()
	ctx, span := sdktrace.NewTracerProvider().Tracer("test").Start(context.Background(), "request")
	defer span.End()
	ev := newEvent(t, ctx, "CUST-20261123-0002")
	ev.Tracestate = "vendor=1"
	msg, err := events.Message(ev)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "crm.customer.customer.updated" {
		t.Errorf("subject %q", msg.Subject)
	}
	want := map[string]string{
		"Nats-Msg-Id":    ev.GetId(),
		"ce-specversion": "1.0",
		"ce-id":          ev.GetId(),
		"ce-type":        "customer.updated",
		"ce-source":      "/crm/customer",
		"ce-time":        ev.GetTime().AsTime().UTC().Format(time.RFC3339Nano),
		"ce-subject":     "CUST-20261123-0002",
		"content-type":   "application/protobuf",
		"traceparent":    ev.GetTraceparent(),
		"tracestate":     "vendor=1",
	}
	for k, v := range want {
		if got := msg.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if len(msg.Header) != len(want) {
		t.Errorf("headers %v, want exactly %d", msg.Header, len(want))
	}
	if !strings.HasPrefix(ev.GetTraceparent(), "00-"+span.SpanContext().TraceID().String()+"-") {
		t.Errorf("traceparent %q does not carry the span's trace", ev.GetTraceparent())
	}
	if _, err := time.Parse(time.RFC3339Nano, msg.Header.Get("ce-time")); err != nil {
		t.Errorf("ce-time: %v", err)
	}
}

func TestDecodeMessageRebuildsTheMessage(t *testing.T) {
	t.Parallel()
	ctx, span := sdktrace.NewTracerProvider().Tracer("test").Start(context.Background(), "request")
	defer span.End()
	ev := newEvent(t, ctx, "CUST-20261123-0003")
	ev.Tracestate = "vendor=1"
	want, err := events.Message(ev)
	if err != nil {
		t.Fatal(err)
	}
	// What an outbox stores (Encode) is what the relay rebuilds the message from.
	subject, data, err := events.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	if subject != want.Subject || !bytes.Equal(data, want.Data) {
		t.Errorf("Encode = %s %q, want Message's %s %q", subject, data, want.Subject, want.Data)
	}
	got, err := events.DecodeMessage(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != want.Subject || !bytes.Equal(got.Data, want.Data) || !reflect.DeepEqual(got.Header, want.Header) {
		t.Errorf("DecodeMessage = %s %q %v, want %s %q %v", got.Subject, got.Data, got.Header, want.Subject, want.Data, want.Header)
	}
	if _, err := events.DecodeMessage([]byte("garbage")); err == nil {
		t.Error("DecodeMessage accepted garbage")
	}
}

func TestMessageOmitsEmptyTraceHeaders(t *testing.T) {
	t.Parallel()
	msg, err := events.Message(newEvent(t, context.Background(), "C1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"traceparent", "tracestate"} {
		if _, ok := msg.Header[k]; ok {
			t.Errorf("header %s present without a trace", k)
		}
	}
}

func TestMessageRejectsIncompleteEvents(t *testing.T) {
	t.Parallel()
	tests := map[string]*eventsv1.Event{
		"nil":           nil,
		"no id":         {Type: "customer.created", Source: "customer"},
		"no source":     {Id: "x", Type: "customer.created"},
		"one-part type": {Id: "x", Type: "created", Source: "customer"},
		"wildcard type": {Id: "x", Type: "customer.>", Source: "customer"},
	}
	for name, ev := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := events.Message(ev); err == nil {
				t.Error("Message succeeded, want an error")
			}
			if _, _, err := events.Encode(ev); err == nil {
				t.Error("Encode succeeded, want an error")
			}
		})
	}
}

func TestRoundTripKeepsEveryField(t *testing.T) {
	t.Parallel()
	ctx, span := sdktrace.NewTracerProvider().Tracer("test").Start(context.Background(), "request")
	defer span.End()
	ev := newEvent(t, ctx, "CUST-20261123-0003")
	ev.Tracestate = "a=b"
	// Every field of the envelope must be set, or the round trip would not prove much.
	fields := ev.ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		if !ev.ProtoReflect().Has(fields.Get(i)) {
			t.Fatalf("test event lacks field %s", fields.Get(i).Name())
		}
	}
	msg, err := events.Message(ev)
	if err != nil {
		t.Fatal(err)
	}
	got, err := events.Decode(msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, ev) {
		t.Errorf("decoded %v\nwant %v", got, ev)
	}
	var body wrapperspb.StringValue
	if err := got.GetData().UnmarshalTo(&body); err != nil || body.GetValue() != "entity body" {
		t.Errorf("data %v, %v", body.GetValue(), err)
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	t.Parallel()
	for name, data := range map[string][]byte{
		"empty":       nil,
		"not proto":   []byte("{\"id\":\"1\"}"),
		"no envelope": mustMarshal(t, &eventsv1.Event{Subject: "C1"}),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if ev, err := events.Decode(data); err == nil {
				t.Errorf("Decode = %v, want an error", ev)
			}
		})
	}
}

func TestDecodeWithoutChangesAndChangedFieldsKeepEverythingElse(t *testing.T) {
	t.Parallel()
	ctx, span := sdktrace.NewTracerProvider().Tracer("test").Start(context.Background(), "request")
	defer span.End()
	ev := newEvent(t, ctx, "CUST-20261123-0004")
	ev.Tracestate = "a=b"
	second, err := events.Change("name", "甲", "乙")
	if err != nil {
		t.Fatal(err)
	}
	ev.Changes = append(ev.Changes, second)
	want := proto.CloneOf(ev)
	want.Changes = nil
	wantNames := proto.CloneOf(want)
	for _, ch := range ev.Changes {
		wantNames.Changes = append(wantNames.Changes, &commonv1.FieldChange{Field: ch.GetField()})
	}

	inOrder := mustMarshal(t, ev)
	// A changes entry may come anywhere on the wire (fields are allowed in any order): put one
	// before the envelope, one after the data, and the rest of the event between them.
	withoutChanges := mustMarshal(t, want)
	scattered := protowire.AppendTag(nil, 8, protowire.BytesType)
	scattered = protowire.AppendBytes(scattered, mustMarshal(t, ev.Changes[0]))
	scattered = append(scattered, withoutChanges...)
	scattered = protowire.AppendTag(scattered, 8, protowire.BytesType)
	scattered = protowire.AppendBytes(scattered, mustMarshal(t, ev.Changes[1]))

	for name, data := range map[string][]byte{"in field order": inOrder, "scattered": scattered, "no changes": withoutChanges} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := events.DecodeWithoutChanges(data)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, want) {
				t.Errorf("DecodeWithoutChanges: %v\nwant %v", got, want)
			}
			names, err := events.DecodeChangedFields(data)
			if err != nil {
				t.Fatal(err)
			}
			if name == "no changes" {
				if !proto.Equal(names, want) {
					t.Errorf("DecodeChangedFields: %v\nwant %v", names, want)
				}
			} else if !proto.Equal(names, wantNames) {
				t.Errorf("DecodeChangedFields: %v\nwant %v", names, wantNames)
			}
			full, err := events.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if len(full.GetChanges()) == 0 && name != "no changes" {
				t.Error("the test event has no changes to leave out")
			}
		})
	}
}

func TestDecodeWithoutChangesRejectsGarbage(t *testing.T) {
	t.Parallel()
	good := mustMarshal(t, newEvent(t, context.Background(), "CUST-20261123-0005"))
	// A change whose field name is cut short inside an otherwise whole event: only
	// DecodeChangedFields reads into a change, so only it must refuse this one.
	badChange := protowire.AppendTag(nil, 8, protowire.BytesType)
	badChange = protowire.AppendBytes(badChange, []byte{0x0a, 0x05, 'a'})
	if _, err := events.DecodeChangedFields(append(badChange, good...)); err == nil {
		t.Error("DecodeChangedFields accepted a change cut short")
	}
	badName := protowire.AppendTag(nil, 8, protowire.BytesType)
	badName = protowire.AppendBytes(badName, []byte{0x0a, 0x02, 0xff, 0xfe})
	if _, err := events.DecodeChangedFields(append(badName, good...)); err == nil {
		t.Error("DecodeChangedFields accepted a field name that is not UTF-8")
	}
	for name, data := range map[string][]byte{
		"empty":       nil,
		"not proto":   []byte("{\"id\":\"1\"}"),
		"no envelope": mustMarshal(t, &eventsv1.Event{Subject: "C1"}),
		"cut short":   good[:len(good)-3],
		"bad tag":     append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, good...),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if ev, err := events.DecodeWithoutChanges(data); err == nil {
				t.Errorf("DecodeWithoutChanges = %v, want an error", ev)
			}
			if ev, err := events.DecodeChangedFields(data); err == nil {
				t.Errorf("DecodeChangedFields = %v, want an error", ev)
			}
		})
	}
}

// BenchmarkDecode decodes a customer.created event as the customer service writes it (the
// customer in data, a change per field set) whole, and without its changes.
func BenchmarkDecode(b *testing.B) {
	c := map[string]any{
		"name": "杭州星辰科技有限公司", "type": "enterprise", "industry": "I65", "uscc": "91330106MA2B1C2D3E",
		"contact_name": "王伟", "contact_title": "总经理", "mobile": "13812345678", "email": "wang@example.com",
		"address.province": "浙江省", "address.city": "杭州市", "address.district": "西湖区", "status": "potential",
		"owner_id": "u-001", "team_id": "t-01", "remarks": "展会名单", "scale": "small", "source": "exhibition",
	}
	data, err := structpb.NewStruct(c)
	if err != nil {
		b.Fatal(err)
	}
	var changes []*commonv1.FieldChange
	for k, v := range c {
		fc, err := events.Change(k, nil, v)
		if err != nil {
			b.Fatal(err)
		}
		changes = append(changes, fc)
	}
	ev, err := events.New(context.Background(), "customer", "customer", "created", "CUST-20261123-0001",
		&commonv1.Actor{UserId: "u-001", Role: "sales", TeamId: "t-01"}, 1, data, changes)
	if err != nil {
		b.Fatal(err)
	}
	wire, err := proto.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	for name, decode := range map[string]func([]byte) (*eventsv1.Event, error){
		"whole": events.Decode, "without-changes": events.DecodeWithoutChanges, "changed-fields": events.DecodeChangedFields,
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decode(wire); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestContextFromContinuesTrace(t *testing.T) {
	t.Parallel()
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	defer span.End()
	ev := newEvent(t, ctx, "C1")
	ev.Tracestate = "vendor=x"
	msg, err := events.Message(ev)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := events.Decode(msg.Data)
	if err != nil {
		t.Fatal(err)
	}

	cctx := events.ContextFrom(context.Background(), decoded)
	remote := trace.SpanContextFromContext(cctx)
	if !remote.IsRemote() || remote.TraceID() != span.SpanContext().TraceID() || remote.SpanID() != span.SpanContext().SpanID() {
		t.Errorf("remote span context %v, want trace %s span %s", remote, span.SpanContext().TraceID(), span.SpanContext().SpanID())
	}
	if remote.TraceState().Get("vendor") != "x" {
		t.Errorf("trace state %q", remote.TraceState())
	}
	_, child := tp.Tracer("test").Start(cctx, "consume")
	defer child.End()
	if child.SpanContext().TraceID() != span.SpanContext().TraceID() {
		t.Error("a span started from ContextFrom is not in the producer's trace")
	}
}

func TestContextFromWithoutTrace(t *testing.T) {
	t.Parallel()
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, 1)
	for name, tp := range map[string]string{"empty": "", "malformed": "00-zz-yy-01"} {
		got := events.ContextFrom(ctx, &eventsv1.Event{Traceparent: tp})
		if got != ctx {
			t.Errorf("%s traceparent: context changed", name)
		}
	}
}

type status int

func (s status) String() string { return [...]string{"draft", "active"}[s] }

func TestChange(t *testing.T) {
	t.Parallel()
	str := "x"
	var nilStr *string
	when := time.Date(2026, 11, 23, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	tests := []struct {
		name   string
		before any
		after  any
		want   [2]string // protojson of before and after
	}{
		{"nil to string", nil, "abc", [2]string{"null", `"abc"`}},
		{"pointers", &str, nilStr, [2]string{`"x"`, "null"}},
		{"ints and floats", 42, 2.5, [2]string{"42", "2.5"}},
		{"int64 beyond 2^53 as string", int64(1) << 60, uint64(7), [2]string{`"1152921504606846976"`, "7"}},
		{"bools", true, false, [2]string{"true", "false"}},
		{"time in UTC", when, time.Time{}, [2]string{`"2026-11-23T02:00:00Z"`, "null"}},
		{"stringer", status(0), status(1), [2]string{`"draft"`, `"active"`}},
		{"string list", []string{"a", "b"}, []string(nil), [2]string{`["a","b"]`, "null"}},
		{"map", map[string]any{"city": "杭州"}, map[string]int{}, [2]string{`{"city":"杭州"}`, "{}"}},
		{"proto message", wrapperspb.Int64(5), structpb.NewStringValue("v"), [2]string{`"5"`, `"v"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fc, err := events.Change("field", tt.before, tt.after)
			if err != nil {
				t.Fatal(err)
			}
			if fc.GetField() != "field" {
				t.Errorf("field %q", fc.GetField())
			}
			for i, v := range []*structpb.Value{fc.GetBefore(), fc.GetAfter()} {
				b, err := v.MarshalJSON()
				if err != nil {
					t.Fatal(err)
				}
				if got := strings.ReplaceAll(string(b), " ", ""); got != tt.want[i] {
					t.Errorf("value %d = %s, want %s", i, got, tt.want[i])
				}
			}
		})
	}
}

func TestChangeRejects(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		field         string
		before, after any
	}{
		"empty field":    {"", 1, 2},
		"func":           {"f", func() {}, nil},
		"struct":         {"f", struct{ A int }{1}, nil},
		"int map keys":   {"f", nil, map[int]string{1: "a"}},
		"NaN":            {"f", nil, nanValue()},
		"bytes":          {"f", []byte("x"), nil},
		"bad list items": {"f", []any{1, make(chan int)}, nil},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if fc, err := events.Change(tt.field, tt.before, tt.after); err == nil {
				t.Errorf("Change = %v, want an error", fc)
			}
		})
	}
}

func nanValue() float64 {
	zero := 0.0
	return zero / zero
}
