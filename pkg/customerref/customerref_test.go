package customerref_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/authz"
	"github.com/crmsuite/crm/pkg/customerref"
	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/testkit"
	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
)

// customers stands in for the customer service at the edge of this package: it knows one
// customer and checks that it is asked with the system token.
type customers struct {
	customerv1.UnimplementedCustomerServiceServer
	calls int
}

func (c *customers) GetCustomer(ctx context.Context, req *customerv1.GetCustomerRequest) (*customerv1.Customer, error) {
	c.calls++
	md, _ := metadata.FromIncomingContext(ctx)
	if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer system-token" {
		return nil, status.Error(codes.Unauthenticated, "no system token")
	}
	if req.GetCustomerId() != "CUST-20261123-0001" {
		return nil, status.Error(codes.NotFound, "no such customer")
	}
	return &customerv1.Customer{CustomerId: "CUST-20261123-0001", OwnerId: "u-sales1", TeamId: "east", Etag: "3"}, nil
}

func setup(t *testing.T) (*customerref.Projection, *customers) {
	t.Helper()
	ctx := context.Background()
	pool, err := pgdb.Connect(ctx, testkit.NewDatabase(t), "followup")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pgdb.Migrate(ctx, pool, "followup", "customerref", customerref.Migrations); err != nil {
		t.Fatal(err)
	}
	fake := &customers{}
	srv := grpc.NewServer()
	customerv1.RegisterCustomerServiceServer(srv, fake)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return customerref.New(pool, customerv1.NewCustomerServiceClient(conn), func() (string, error) { return "system-token", nil }), fake
}

func event(t *testing.T, version int64, owner string, deleted bool) *eventsv1.Event {
	t.Helper()
	c := &customerv1.Customer{CustomerId: "CUST-20261123-0002", OwnerId: owner, TeamId: "east", Etag: "x"}
	if deleted {
		c.DeleteTime = timestamppb.New(time.Now())
	}
	data, err := anypb.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return &eventsv1.Event{Id: "e", Type: "customer.updated", EntityType: "customer", Subject: c.CustomerId, EntityVersion: version, Data: data}
}

func TestGetFallsBackToTheCustomerService(t *testing.T) {
	p, fake := setup(t)
	ctx := context.Background()
	for range 2 {
		r, err := p.Get(ctx, "CUST-20261123-0001")
		if err != nil || r.OwnerID != "u-sales1" || r.TeamID != "east" || r.Version != 3 || !r.Live() {
			t.Fatalf("ref = %+v, %v", r, err)
		}
	}
	if fake.calls != 1 {
		t.Fatalf("customer service asked %d times, want once (then remembered)", fake.calls)
	}
	if _, err := p.Get(ctx, "CUST-20261123-0999"); !errors.Is(err, customerref.ErrNotFound) {
		t.Fatalf("unknown customer: %v", err)
	}
}

// Consume follows the changes of customers but not their creation: the projection holds the
// customers the service looked up, and any customer changed since.
func TestConsumeFollowsChangesNotCreations(t *testing.T) {
	p, _ := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, js, _ := testkit.StartEventStream(t)
	publish := func(action, id, owner string, version int64) {
		t.Helper()
		ev, err := events.New(ctx, "customer", "customer", action, id, &commonv1.Actor{UserId: "u-admin", Role: "admin"}, version,
			&customerv1.Customer{CustomerId: id, OwnerId: owner, TeamId: "east", Etag: fmt.Sprint(version)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		testkit.PublishEvent(t, js, ev)
	}
	const created, changed = "CUST-20261123-0003", "CUST-20261123-0002"
	publish("created", created, "u-sales1", 1)
	publish("updated", changed, "u-sales2", 4)

	// The durable consumer as earlier versions created it, on every customer event: it is
	// updated in place.
	if _, err := js.CreateOrUpdateConsumer(ctx, events.StreamName, jetstream.ConsumerConfig{Durable: "followup-customers",
		FilterSubject: "crm.customer.customer.>", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- p.Consume(runCtx, js, nc, "followup-customers", slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	t.Cleanup(func() { stop(); <-done })

	for {
		r, err := p.Get(ctx, changed)
		if err == nil {
			if r.OwnerID != "u-sales2" || r.Version != 4 {
				t.Fatalf("changed customer's ref = %+v", r)
			}
			break
		}
		if !errors.Is(err, customerref.ErrNotFound) || ctx.Err() != nil {
			t.Fatalf("the change never arrived: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The creation came first in the stream; the fake customer service does not know the
	// customer, so only the event could have stored it.
	if _, err := p.Get(ctx, created); !errors.Is(err, customerref.ErrNotFound) {
		t.Fatalf("the created customer was projected: %v", err)
	}
}

func TestApplyIgnoresOlderEvents(t *testing.T) {
	p, fake := setup(t)
	ctx := context.Background()
	for _, ev := range []*eventsv1.Event{event(t, 1, "u-a", false), event(t, 3, "u-c", true), event(t, 2, "u-b", false), event(t, 3, "u-c", true)} {
		if err := p.Apply(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	r, err := p.Get(ctx, "CUST-20261123-0002")
	if err != nil || r.OwnerID != "u-c" || !r.Deleted || r.Live() || r.Version != 3 {
		t.Fatalf("ref = %+v, %v", r, err)
	}
	if fake.calls != 0 {
		t.Fatal("asked the customer service for a customer the events described")
	}
	// Events of other entities are ignored.
	if err := p.Apply(ctx, &eventsv1.Event{EntityType: "followup"}); err != nil {
		t.Fatal(err)
	}
}

func TestVisible(t *testing.T) {
	r := customerref.Ref{OwnerID: "u-sales1", TeamID: "east"}
	sales1 := authn.Principal{UserID: "u-sales1", Team: "east"}
	sales2 := authn.Principal{UserID: "u-sales2", Team: "east"}
	west := authn.Principal{UserID: "u-m", Team: "west"}
	cases := []struct {
		p     authn.Principal
		scope authz.Scope
		want  bool
	}{
		{sales1, authz.ScopeOwn, true}, {sales2, authz.ScopeOwn, false}, {sales2, authz.ScopeTeam, true},
		{west, authz.ScopeTeam, false}, {west, authz.ScopeAll, true}, {sales1, authz.ScopeNone, false},
	}
	for _, c := range cases {
		if got := r.Visible(c.p, c.scope); got != c.want {
			t.Errorf("Visible(%s, %v) = %v", c.p.UserID, c.scope, got)
		}
	}
}

// changeOf is a customer.updated event of CUST-20261123-0002 at version whose change list names
// fields; version 1 is its customer.created.
func changeOf(t *testing.T, version int64, owner string, fields ...string) *eventsv1.Event {
	t.Helper()
	ev := event(t, version, owner, false)
	if version == 1 {
		ev.Type = "customer.created"
	}
	for _, f := range fields {
		ev.Changes = append(ev.Changes, &commonv1.FieldChange{Field: f})
	}
	return ev
}

func ref(t *testing.T, p *customerref.Projection) customerref.Ref {
	t.Helper()
	r, err := p.Get(context.Background(), "CUST-20261123-0002")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestChangesThatLeaveTheRefAloneDoNotRewriteIt(t *testing.T) {
	p, _ := setup(t)
	ctx := context.Background()
	if err := p.Apply(ctx, changeOf(t, 1, "u-a", "name", "owner_id", "team_id")); err != nil {
		t.Fatal(err)
	}
	if err := p.ApplyBatch(ctx, []*eventsv1.Event{changeOf(t, 2, "u-a", "remarks"), changeOf(t, 3, "u-a", "mobile", "email")}); err != nil {
		t.Fatal(err)
	}
	if r := ref(t, p); r.Version != 1 || r.OwnerID != "u-a" {
		t.Fatalf("after changes of other fields: %+v, want version 1 (not rewritten)", r)
	}
	if err := p.Apply(ctx, changeOf(t, 4, "u-b", "owner_id")); err != nil {
		t.Fatal(err)
	}
	if r := ref(t, p); r.Version != 4 || r.OwnerID != "u-b" {
		t.Fatalf("after an owner change: %+v, want u-b at version 4", r)
	}
}

// TestOwnerChangesInAnyOrderEndOnTheLast delivers an owner's change and its change back, then a
// change of another field, in every order, one by one and as one batch: the projection must end
// on the owner of the last version, although the last event leaves the owner alone and equals
// what the row held before the first.
func TestOwnerChangesInAnyOrderEndOnTheLast(t *testing.T) {
	evs := func() []*eventsv1.Event {
		return []*eventsv1.Event{changeOf(t, 2, "u-b", "owner_id"), changeOf(t, 3, "u-a", "owner_id"), changeOf(t, 4, "u-a", "remarks")}
	}
	orders := [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	for _, order := range orders {
		for _, batch := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v batch=%v", order, batch), func(t *testing.T) {
				p, _ := setup(t)
				ctx := context.Background()
				if err := p.Apply(ctx, changeOf(t, 1, "u-a", "owner_id")); err != nil {
					t.Fatal(err)
				}
				all := evs()
				var in []*eventsv1.Event
				for _, i := range order {
					in = append(in, all[i])
				}
				if batch {
					if err := p.ApplyBatch(ctx, in); err != nil {
						t.Fatal(err)
					}
				} else {
					for _, ev := range in {
						if err := p.Apply(ctx, ev); err != nil {
							t.Fatal(err)
						}
					}
				}
				if r := ref(t, p); r.OwnerID != "u-a" {
					t.Errorf("owner %s at version %d, want u-a", r.OwnerID, r.Version)
				}
			})
		}
	}
}

// TestAChangeOfOtherFieldsRepairsAStaleRow: when an owner change never reached the projection
// (dropped after its deliveries ran out), the customer's next event, whatever it changes, sets
// the row right.
func TestAChangeOfOtherFieldsRepairsAStaleRow(t *testing.T) {
	p, _ := setup(t)
	ctx := context.Background()
	if err := p.Apply(ctx, changeOf(t, 1, "u-a", "owner_id")); err != nil {
		t.Fatal(err)
	}
	// Version 2 moved the customer to u-b and was lost.
	if err := p.Apply(ctx, changeOf(t, 3, "u-b", "remarks")); err != nil {
		t.Fatal(err)
	}
	if r := ref(t, p); r.OwnerID != "u-b" || r.Version != 3 {
		t.Fatalf("ref %+v, want u-b at version 3", r)
	}
}

func TestApplyBatchKeepsTheNewestOfEachCustomer(t *testing.T) {
	p, _ := setup(t)
	ctx := context.Background()
	other := func(id string, version int64, owner string) *eventsv1.Event {
		data, err := anypb.New(&customerv1.Customer{CustomerId: id, OwnerId: owner, TeamId: "west"})
		if err != nil {
			t.Fatal(err)
		}
		return &eventsv1.Event{Id: id, Type: "customer.created", EntityType: "customer", Subject: id, EntityVersion: version, Data: data}
	}
	if err := p.Apply(ctx, event(t, 5, "u-e", false)); err != nil {
		t.Fatal(err)
	}
	batch := []*eventsv1.Event{
		event(t, 4, "u-d", false), // older than what is stored: ignored
		other("CUST-20261123-0003", 1, "u-x"),
		other("CUST-20261123-0003", 3, "u-z"), // the newest of this customer in the batch wins
		other("CUST-20261123-0003", 2, "u-y"),
		{EntityType: "followup"}, // not a customer event
	}
	if err := p.ApplyBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id, owner string
		version   int64
	}{
		{"CUST-20261123-0002", "u-e", 5},
		{"CUST-20261123-0003", "u-z", 3},
	}
	for _, tt := range tests {
		r, err := p.Get(ctx, tt.id)
		if err != nil || r.OwnerID != tt.owner || r.Version != tt.version {
			t.Errorf("%s: ref = %+v, %v; want owner %s version %d", tt.id, r, err, tt.owner, tt.version)
		}
	}
	if err := p.ApplyBatch(ctx, nil); err != nil {
		t.Fatal(err)
	}
}

// TestCustomerViewMatchesCustomer keeps CustomerView decodable from a Customer: each of its fields
// must exist in Customer under the same name with the same number, kind and cardinality, and a
// message field must match in turn (or be the same message type).
func TestCustomerViewMatchesCustomer(t *testing.T) {
	var match func(view, full protoreflect.MessageDescriptor)
	match = func(view, full protoreflect.MessageDescriptor) {
		fields := view.Fields()
		for i := range fields.Len() {
			v := fields.Get(i)
			f := full.Fields().ByName(v.Name())
			switch {
			case f == nil:
				t.Errorf("%s has no field %s", full.FullName(), v.Name())
				continue
			case f.Number() != v.Number() || f.Kind() != v.Kind() || f.Cardinality() != v.Cardinality():
				t.Errorf("%s: %d %s %s in the view, %d %s %s in %s", v.Name(), v.Number(), v.Cardinality(), v.Kind(),
					f.Number(), f.Cardinality(), f.Kind(), full.FullName())
			case v.Kind() == protoreflect.EnumKind && v.Enum().FullName() != f.Enum().FullName():
				t.Errorf("%s: enum %s in the view, %s in %s", v.Name(), v.Enum().FullName(), f.Enum().FullName(), full.FullName())
			case v.Kind() == protoreflect.MessageKind && v.Message().FullName() != f.Message().FullName():
				match(v.Message(), f.Message())
			}
		}
	}
	match((&customerv1.CustomerView{}).ProtoReflect().Descriptor(), (&customerv1.Customer{}).ProtoReflect().Descriptor())
}

func TestViewDecodesTheCustomerOfAnEvent(t *testing.T) {
	deleted := timestamppb.New(time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC))
	c := &customerv1.Customer{
		CustomerId: "CUST-20261123-0003", Name: "杭州星辰科技有限公司", Type: customerv1.CustomerType_CUSTOMER_TYPE_ENTERPRISE,
		Mobile: "13812345678", Address: &customerv1.Address{Province: "浙江省", City: "杭州市"},
		Status: customerv1.CustomerStatus_CUSTOMER_STATUS_INTENTION, OwnerId: "u-sales1", TeamId: "east",
		DeleteTime: deleted, MergedInto: "CUST-20261123-0004", Remarks: "不读", Etag: "5",
	}
	data, err := anypb.New(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := customerref.View(&eventsv1.Event{Id: "e1", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	want := &customerv1.CustomerView{
		CustomerId: c.CustomerId, Type: c.Type, Address: &customerv1.CustomerView_AddressView{Province: "浙江省"},
		Status: c.Status, OwnerId: c.OwnerId, TeamId: c.TeamId, DeleteTime: deleted, MergedInto: c.MergedInto,
	}
	if !proto.Equal(got, want) {
		t.Errorf("View = %v\nwant %v", got, want)
	}
	if n := len(got.ProtoReflect().GetUnknown()); n != 0 {
		t.Errorf("the view kept %d bytes of fields it does not read", n)
	}

	other, err := anypb.New(timestamppb.Now())
	if err != nil {
		t.Fatal(err)
	}
	if v, err := customerref.View(&eventsv1.Event{Id: "e2", Data: other}); err == nil {
		t.Errorf("View of a timestamp = %v, want an error", v)
	}
}

// BenchmarkView decodes a customer event's data as projections did (the whole Customer) and as
// they do (the CustomerView).
func BenchmarkView(b *testing.B) {
	now := timestamppb.Now()
	c := &customerv1.Customer{
		CustomerId: "CUST-20261123-0003", Name: "杭州星辰科技有限公司", Type: customerv1.CustomerType_CUSTOMER_TYPE_ENTERPRISE,
		Industry: "I65", Uscc: "91330106MA2B1C2D3E", ContactName: "王伟", ContactTitle: "总经理", Mobile: "13812345678",
		Email: "wang@example.com", Address: &customerv1.Address{Province: "浙江省", City: "杭州市", District: "西湖区"},
		Status: customerv1.CustomerStatus_CUSTOMER_STATUS_POTENTIAL, OwnerId: "u-sales1", TeamId: "east", Remarks: "展会名单",
		CreateTime: now, UpdateTime: now, StatusChangeTime: now, CreatedBy: "u-sales1", UpdatedBy: "u-sales1", Etag: "1",
	}
	data, err := anypb.New(c)
	if err != nil {
		b.Fatal(err)
	}
	ev := &eventsv1.Event{Id: "e1", Data: data}
	b.Run("customer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c customerv1.Customer
			if err := ev.GetData().UnmarshalTo(&c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("view", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := customerref.View(ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}
