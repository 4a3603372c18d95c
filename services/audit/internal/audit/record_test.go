package audit

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
)

var t0 = time.Date(2026, 11, 23, 9, 30, 0, 123456789, time.FixedZone("CST", 8*3600))

func change(t *testing.T, field string, before, after any) *commonv1.FieldChange {
	t.Helper()
	b, err := structpb.NewValue(before)
	if err != nil {
		t.Fatal(err)
	}
	a, err := structpb.NewValue(after)
	if err != nil {
		t.Fatal(err)
	}
	return &commonv1.FieldChange{Field: field, Before: b, After: a}
}

func sampleEvent(t *testing.T) *eventsv1.Event {
	t.Helper()
	return &eventsv1.Event{
		Id:          "0193a5e4-7c2f-7d1a-9b3c-1f2e3d4c5b6a",
		Type:        "customer.updated",
		Source:      "customer",
		EntityType:  "customer",
		Subject:     "CUST-20261123-0001",
		Time:        timestamppb.New(t0),
		Actor:       &commonv1.Actor{UserId: "u-1", Role: "sales", TeamId: "east"},
		Changes:     []*commonv1.FieldChange{change(t, "name", "甲公司", "乙公司"), change(t, "address", map[string]any{"city": "上海", "province": "上海市", "street": "1号"}, nil)},
		Traceparent: "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
	}
}

func TestFromEventTakesEveryField(t *testing.T) {
	t.Parallel()
	ev := sampleEvent(t)
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	e, err := FromEvent(ev, now)
	if err != nil {
		t.Fatal(err)
	}
	want := Entry{
		EventID:    "0193a5e4-7c2f-7d1a-9b3c-1f2e3d4c5b6a",
		EventType:  "customer.updated",
		Source:     "customer",
		EntityType: "customer",
		EntityID:   "CUST-20261123-0001",
		EventTime:  time.Date(2026, 11, 23, 1, 30, 0, 123456000, time.UTC),
		Actor:      Actor{UserID: "u-1", Role: "sales", TeamID: "east"},
		TraceID:    "4bf92f3577b34da6a3ce929d0e0e4736",
	}
	if e.EventID != want.EventID || e.EventType != want.EventType || e.Source != want.Source ||
		e.EntityType != want.EntityType || e.EntityID != want.EntityID || e.Actor != want.Actor || e.TraceID != want.TraceID {
		t.Errorf("FromEvent = %+v, want %+v", e, want)
	}
	if !e.EventTime.Equal(want.EventTime) || e.EventTime.Location() != time.UTC {
		t.Errorf("EventTime = %v, want %v in UTC truncated to µs", e.EventTime, want.EventTime)
	}
	got, err := DecodeChanges(e.Changes)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !proto.Equal(got[0], ev.Changes[0]) || !proto.Equal(got[1], ev.Changes[1]) {
		t.Errorf("changes round trip = %v, want %v", got, ev.Changes)
	}
}

func TestFromEventRefusesUnrecordableEvents(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tests := []struct {
		name   string
		mutate func(*eventsv1.Event)
	}{
		{"nil id", func(ev *eventsv1.Event) { ev.Id = "" }},
		{"id not a uuid", func(ev *eventsv1.Event) { ev.Id = "evt-1" }},
		{"no type", func(ev *eventsv1.Event) { ev.Type = "" }},
		{"NUL in entity id", func(ev *eventsv1.Event) { ev.Subject = "CUST\x00" }},
		{"NUL in actor", func(ev *eventsv1.Event) { ev.Actor.UserId = "u\x00" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := sampleEvent(t)
			tt.mutate(ev)
			if _, err := FromEvent(ev, now); !errors.Is(err, ErrInvalidEvent) {
				t.Fatalf("FromEvent error = %v, want ErrInvalidEvent", err)
			}
		})
	}
	if _, err := FromEvent(nil, now); !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("FromEvent(nil) error = %v, want ErrInvalidEvent", err)
	}
}

func TestFromEventWithoutTimeUsesNow(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 999, time.UTC)
	for name, ts := range map[string]*timestamppb.Timestamp{
		"missing": nil,
		"invalid": {Seconds: 1, Nanos: -5},
	} {
		ev := sampleEvent(t)
		ev.Time = ts
		e, err := FromEvent(ev, now)
		if err != nil {
			t.Fatal(err)
		}
		if !e.EventTime.Equal(NormalTime(now)) {
			t.Errorf("%s time: EventTime = %v, want %v", name, e.EventTime, NormalTime(now))
		}
	}
}

func TestTraceID(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "4bf92f3577b34da6a3ce929d0e0e4736"},
		{" 00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-00 ", "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future", "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"", ""},
		{"garbage", ""},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ""},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", ""},
		{"00-4bf92f3577b34da6a3ce929d0e0e473z-00f067aa0ba902b7-01", ""},
		{"00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01", ""},
	}
	for _, tt := range tests {
		if got := TraceID(tt.in); got != tt.want {
			t.Errorf("TraceID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEncodeChangesIsDeterministic(t *testing.T) {
	t.Parallel()
	// Struct values are maps: without deterministic marshalling their key order would vary.
	mk := func() []*commonv1.FieldChange {
		return []*commonv1.FieldChange{change(t, "address", nil, map[string]any{
			"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": "九",
		})}
	}
	first, err := EncodeChanges(mk())
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, err := EncodeChanges(mk())
		if err != nil {
			t.Fatal(err)
		}
		if string(again) != string(first) {
			t.Fatal("EncodeChanges gave different bytes for equal changes")
		}
	}
	if b, err := EncodeChanges(nil); err != nil || len(b) != 0 {
		t.Errorf("EncodeChanges(nil) = %v, %v; want no bytes", b, err)
	}
	if c, err := DecodeChanges(nil); err != nil || len(c) != 0 {
		t.Errorf("DecodeChanges(nil) = %v, %v; want none", c, err)
	}
	if _, err := DecodeChanges([]byte{0x05, 0x01}); err == nil {
		t.Error("DecodeChanges of a truncated list succeeded")
	}
}

// createChanges are the field changes of a customer.created event: every field set, from nothing.
func createChanges(tb testing.TB) []*commonv1.FieldChange {
	fields := map[string]any{"id": "CUST-20261123-0001", "name": "杭州星辰科技有限公司", "type": "enterprise",
		"industry": "I65", "contact_name": "王伟", "contact_title": "采购经理", "mobile": "13800138000",
		"scale": "51-200", "status": "potential", "source": "exhibition", "owner_id": "u-1", "team_id": "east",
		"version": 1, "created_by": "u-1", "updated_by": "u-1", "created_at": "2026-11-23T09:30:00Z",
		"address": map[string]any{"province": "浙江省", "city": "杭州市", "district": "西湖区", "street": "文三路100号"}}
	var cs []*commonv1.FieldChange
	for _, f := range slices.Sorted(maps.Keys(fields)) {
		a, err := structpb.NewValue(fields[f])
		if err != nil {
			tb.Fatal(err)
		}
		cs = append(cs, &commonv1.FieldChange{Field: f, After: a})
	}
	return cs
}

// The chain hashes the stored bytes, so the encoding must stay what it was when records were
// first written: each change marshalled on its own, prefixed with its length.
func TestEncodeChangesKeepsItsBytes(t *testing.T) {
	t.Parallel()
	cs := append(createChanges(t), sampleEvent(t).GetChanges()...)
	var want []byte
	for _, c := range cs {
		m, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		want = protowire.AppendBytes(want, m)
	}
	got, err := EncodeChanges(cs)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("EncodeChanges gave %d bytes unlike the length-prefixed messages (%d bytes)", len(got), len(want))
	}
	back, err := DecodeChanges(got)
	if err != nil || len(back) != len(cs) {
		t.Fatalf("DecodeChanges gave %d changes, %v; want %d", len(back), err, len(cs))
	}
}

func BenchmarkEncodeChanges(b *testing.B) {
	cs := createChanges(b)
	for b.Loop() {
		if _, err := EncodeChanges(cs); err != nil {
			b.Fatal(err)
		}
	}
}

func TestHashCoversEveryField(t *testing.T) {
	t.Parallel()
	e, err := FromEvent(sampleEvent(t), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	base := Hash(GenesisHash, 1, e)
	if len(base) != 64 || strings.Trim(base, "0123456789abcdef") != "" {
		t.Fatalf("Hash = %q, want 64 lower-case hex digits", base)
	}
	if again := Hash(GenesisHash, 1, e); again != base {
		t.Fatalf("Hash is not stable: %s then %s", base, again)
	}
	tests := []struct {
		name   string
		prev   string
		seq    int64
		mutate func(*Entry)
	}{
		{"prev hash", strings.Repeat("1", 64), 1, nil},
		{"sequence", GenesisHash, 2, nil},
		{"event id", GenesisHash, 1, func(e *Entry) { e.EventID = "0193a5e4-7c2f-7d1a-9b3c-1f2e3d4c5b6b" }},
		{"event type", GenesisHash, 1, func(e *Entry) { e.EventType = "customer.deleted" }},
		{"source", GenesisHash, 1, func(e *Entry) { e.Source = "gateway" }},
		{"entity type", GenesisHash, 1, func(e *Entry) { e.EntityType = "contact" }},
		{"entity id", GenesisHash, 1, func(e *Entry) { e.EntityID = "CUST-20261123-0002" }},
		{"event time", GenesisHash, 1, func(e *Entry) { e.EventTime = e.EventTime.Add(time.Microsecond) }},
		{"actor id", GenesisHash, 1, func(e *Entry) { e.Actor.UserID = "u-2" }},
		{"actor role", GenesisHash, 1, func(e *Entry) { e.Actor.Role = "admin" }},
		{"actor team", GenesisHash, 1, func(e *Entry) { e.Actor.TeamID = "west" }},
		{"changes", GenesisHash, 1, func(e *Entry) { e.Changes = append(append([]byte(nil), e.Changes...), 0) }},
		{"trace id", GenesisHash, 1, func(e *Entry) { e.TraceID = "" }},
		// Moving a byte between neighbouring fields must change the hash (length prefixes).
		{"field boundary", GenesisHash, 1, func(e *Entry) { e.Source, e.EntityType = "customerc", "ustomer" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := e
			if tt.mutate != nil {
				tt.mutate(&m)
			}
			if got := Hash(tt.prev, tt.seq, m); got == base {
				t.Errorf("changing the %s did not change the hash", tt.name)
			}
		})
	}
}

func TestHashIgnoresTimeZone(t *testing.T) {
	t.Parallel()
	e, err := FromEvent(sampleEvent(t), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	shanghai := e
	shanghai.EventTime = e.EventTime.In(time.FixedZone("CST", 8*3600))
	if Hash(GenesisHash, 1, e) != Hash(GenesisHash, 1, shanghai) {
		t.Error("the same instant in another zone hashes differently")
	}
}

func TestChainLinksRecords(t *testing.T) {
	t.Parallel()
	e, err := FromEvent(sampleEvent(t), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	first := Chain(Link{}, e)
	if first.Sequence != 1 || first.PrevHash != GenesisHash || first.Hash != Hash(GenesisHash, 1, e) {
		t.Fatalf("first record = seq %d prev %s hash %s", first.Sequence, first.PrevHash, first.Hash)
	}
	second := Chain(first.Head(), e)
	if second.Sequence != 2 || second.PrevHash != first.Hash || second.Hash != Hash(first.Hash, 2, e) {
		t.Fatalf("second record = seq %d prev %s hash %s", second.Sequence, second.PrevHash, second.Hash)
	}
}

func TestGenesisHashIs64Zeros(t *testing.T) {
	t.Parallel()
	if GenesisHash != strings.Repeat("0", 64) {
		t.Fatalf("GenesisHash = %q", GenesisHash)
	}
}
