package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/authz"
	"github.com/crmsuite/crm/pkg/customerref"
	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/export"
	"github.com/crmsuite/crm/pkg/grpcx"
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/testkit"
	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	followupv1 "github.com/crmsuite/crm/proto/gen/go/crm/followup/v1"
	"github.com/crmsuite/crm/services/followup/internal/server"
	"github.com/crmsuite/crm/services/followup/internal/store"
)

var secret = []byte("test-secret-test-secret-test-secret!")

// Customers known to the fake customer service: A of sales1 (team east), W of sales9 (team west).
const (
	custA       = "CUST-20261101-0001"
	custW       = "CUST-20261101-0002"
	custUnknown = "CUST-20261101-0999"
)

// fakeCustomers stands in for the customer service at the edge of these tests: it answers
// GetCustomer for the customers it knows, to the system role only (as the projection calls it).
type fakeCustomers struct {
	customerv1.UnimplementedCustomerServiceServer
	mu        sync.Mutex
	customers map[string]*customerv1.Customer
}

func (f *fakeCustomers) GetCustomer(ctx context.Context, req *customerv1.GetCustomerRequest) (*customerv1.Customer, error) {
	p, _ := authn.FromContext(ctx)
	if !p.Has(authn.RoleSystem) {
		return nil, status.Error(codes.PermissionDenied, "system only")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.customers[req.GetCustomerId()]
	if !ok {
		return nil, status.Error(codes.NotFound, "no such customer")
	}
	return proto.Clone(c).(*customerv1.Customer), nil
}

// clock is the fixed, movable time the server sees.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

var cst = time.FixedZone("CST", 8*3600)

type env struct {
	client     followupv1.FollowUpServiceClient
	projection *customerref.Projection
	clock      *clock
	pool       *pgxpool.Pool
}

func start(t *testing.T) env {
	t.Helper()
	ctx := context.Background()
	pool, err := pgdb.Connect(ctx, testkit.NewDatabase(t), store.Schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := store.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	verifier, err := authn.NewHS256Verifier(secret, "crm-dev", "crm")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	system := func() (string, error) {
		return authn.IssueHS256(secret, "crm-dev", "crm", authn.Principal{UserID: "service:followup", Roles: []authn.Role{authn.RoleSystem}}, time.Minute)
	}

	fake := &fakeCustomers{customers: map[string]*customerv1.Customer{
		custA: {CustomerId: custA, Name: "杭州甲科技有限公司", OwnerId: "u-sales1", TeamId: "east", Etag: "1"},
		custW: {CustomerId: custW, Name: "成都乙贸易有限公司", OwnerId: "u-sales9", TeamId: "west", Etag: "1"},
	}}
	custSrv, _ := grpcx.NewServer(grpcx.ServerConfig{Domain: "customer.crm", Verifier: verifier, Logger: log,
		Policy: authz.Policy{"/crm.customer.v1.CustomerService/GetCustomer": {authn.RoleSystem: authz.ScopeAll},
			"/crm.customer.v1.CustomerTransferService/StreamCustomerRefs": export.Exporters}})
	customerv1.RegisterCustomerServiceServer(custSrv, fake)
	customerv1.RegisterCustomerTransferServiceServer(custSrv, &testkit.CustomerRefs{Verifier: verifier,
		Customers: []*customerv1.Customer{fake.customers[custA], fake.customers[custW]}})
	custConn, err := grpcx.Dial(serve(t, custSrv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { custConn.Close() })
	projection := customerref.New(pool, customerv1.NewCustomerServiceClient(custConn), system)

	clk := &clock{t: time.Date(2026, 11, 20, 10, 0, 0, 0, cst)}
	exporter := &export.Exporter{Pool: pool, Customers: customerv1.NewCustomerTransferServiceClient(custConn), Log: log}
	impl := server.New(store.New(pool, server.EventData), projection, exporter, log)
	impl.SetClock(clk.now)
	srv, _ := grpcx.NewServer(grpcx.ServerConfig{Domain: server.Domain, Verifier: verifier, Policy: server.Policy, Logger: log})
	followupv1.RegisterFollowUpServiceServer(srv, impl)
	if missing := server.Policy.Uncovered(srv.GetServiceInfo()); len(missing) > 0 {
		t.Fatalf("RPCs without a permission: %v", missing)
	}
	conn, err := grpc.NewClient(serve(t, srv), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return env{client: followupv1.NewFollowUpServiceClient(conn), projection: projection, clock: clk, pool: pool}
}

func serve(t *testing.T, srv *grpc.Server) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// users of the tests: two sales reps of team east, the managers of east and west, and the other roles.
var users = map[string]authn.Principal{
	"admin":     {UserID: "u-admin", Team: "hq", Roles: []authn.Role{authn.RoleAdmin}},
	"manager":   {UserID: "u-manager", Team: "east", Roles: []authn.Role{authn.RoleManager}},
	"managerW":  {UserID: "u-manager-w", Team: "west", Roles: []authn.Role{authn.RoleManager}},
	"sales1":    {UserID: "u-sales1", Team: "east", Roles: []authn.Role{authn.RoleSales}},
	"sales2":    {UserID: "u-sales2", Team: "east", Roles: []authn.Role{authn.RoleSales}},
	"service":   {UserID: "u-service", Team: "support", Roles: []authn.Role{authn.RoleService}},
	"executive": {UserID: "u-exec", Team: "hq", Roles: []authn.Role{authn.RoleExecutive}},
	"system":    {UserID: "service:customer", Roles: []authn.Role{authn.RoleSystem}},
}

func as(t *testing.T, user string) context.Context {
	t.Helper()
	if user == "" {
		return context.Background()
	}
	tok, err := authn.IssueHS256(secret, "crm-dev", "crm", users[user], time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
}

func (e env) day(d int) *date.Date {
	t := e.clock.now().In(cst).AddDate(0, 0, d)
	return &date.Date{Year: int32(t.Year()), Month: int32(t.Month()), Day: int32(t.Day())}
}

// input returns a valid new record contacted an hour before the clock, with a next action due in
// dueIn days (none when dueIn < 0).
func (e env) input(dueIn int) *followupv1.FollowUp {
	f := &followupv1.FollowUp{
		ContactName: "陈静", Method: followupv1.ContactMethod_CONTACT_METHOD_PHONE,
		ContactTime: timestamppb.New(e.clock.now().Add(-time.Hour)), Kind: followupv1.FollowUpKind_FOLLOW_UP_KIND_NEED_FOLLOWUP,
		Content: "客户关注交付周期，约定下周演示。", CompetitorNotes: "友商报价低 10%",
	}
	if dueIn >= 0 {
		f.NextAction, f.NextActionDueDate = "发送演示方案", e.day(dueIn)
	}
	return f
}

// create records a follow-up of customer A (owned by sales1) as the admin, owned by owner.
func (e env) create(t *testing.T, owner string, dueIn int) *followupv1.FollowUp {
	t.Helper()
	in := e.input(dueIn)
	in.OwnerId = owner
	f, err := e.client.CreateFollowUp(as(t, "admin"), &followupv1.CreateFollowUpRequest{CustomerId: custA, Followup: in})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// errorInfo returns the ErrorInfo and field violations of an error.
func errorInfo(err error) (*errdetails.ErrorInfo, map[string]string) {
	var info *errdetails.ErrorInfo
	fields := map[string]string{}
	for _, d := range status.Convert(err).Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				fields[v.GetField()] = v.GetDescription()
			}
		}
	}
	return info, fields
}

func TestRoleMatrix(t *testing.T) {
	t.Parallel()
	e := start(t)
	type call func(ctx context.Context, f *followupv1.FollowUp) error
	calls := map[string]call{
		"Create": func(ctx context.Context, _ *followupv1.FollowUp) error {
			_, err := e.client.CreateFollowUp(ctx, &followupv1.CreateFollowUpRequest{CustomerId: custA, Followup: e.input(3)})
			return err
		},
		"Get": func(ctx context.Context, f *followupv1.FollowUp) error {
			_, err := e.client.GetFollowUp(ctx, &followupv1.GetFollowUpRequest{FollowupId: f.GetFollowupId()})
			return err
		},
		"List": func(ctx context.Context, _ *followupv1.FollowUp) error {
			_, err := e.client.ListFollowUps(ctx, &followupv1.ListFollowUpsRequest{CustomerId: custA})
			return err
		},
		"ListOwner": func(ctx context.Context, _ *followupv1.FollowUp) error {
			_, err := e.client.ListOwnerFollowUps(ctx, &followupv1.ListOwnerFollowUpsRequest{})
			return err
		},
		"ListOwnerSales1": func(ctx context.Context, _ *followupv1.FollowUp) error {
			_, err := e.client.ListOwnerFollowUps(ctx, &followupv1.ListOwnerFollowUpsRequest{OwnerId: "u-sales1"})
			return err
		},
		"Update": func(ctx context.Context, f *followupv1.FollowUp) error {
			_, err := e.client.UpdateFollowUp(ctx, &followupv1.UpdateFollowUpRequest{
				Followup:   &followupv1.FollowUp{FollowupId: f.GetFollowupId(), Etag: f.GetEtag(), Content: "补充：客户要求先报价"},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"content"}}})
			return err
		},
		"Complete": func(ctx context.Context, f *followupv1.FollowUp) error {
			_, err := e.client.CompleteFollowUp(ctx, &followupv1.CompleteFollowUpRequest{FollowupId: f.GetFollowupId()})
			return err
		},
		"Delete": func(ctx context.Context, f *followupv1.FollowUp) error {
			_, err := e.client.DeleteFollowUp(ctx, &followupv1.DeleteFollowUpRequest{FollowupId: f.GetFollowupId()})
			return err
		},
		"Due": func(ctx context.Context, _ *followupv1.FollowUp) error {
			_, err := e.client.ListDueActions(ctx, &followupv1.ListDueActionsRequest{})
			return err
		},
		"Overdue": func(ctx context.Context, _ *followupv1.FollowUp) error {
			_, err := e.client.ListOverdueActions(ctx, &followupv1.ListOverdueActionsRequest{})
			return err
		},
	}
	const (
		ok     = codes.OK
		denied = codes.PermissionDenied
		hidden = codes.NotFound
		anon   = codes.Unauthenticated
	)
	readAll := map[string]codes.Code{"admin": ok, "manager": ok, "managerW": hidden, "sales1": ok, "sales2": hidden,
		"service": ok, "executive": ok, "system": ok, "": anon}
	listAll := map[string]codes.Code{"admin": ok, "manager": ok, "managerW": ok, "sales1": ok, "sales2": ok,
		"service": ok, "executive": ok, "system": ok, "": anon}
	write := map[string]codes.Code{"admin": ok, "manager": ok, "managerW": hidden, "sales1": ok, "sales2": hidden,
		"service": ok, "executive": denied, "system": denied, "": anon}
	// The record under test belongs to customer A (sales1, team east) and is owned by sales1.
	matrix := map[string]map[string]codes.Code{
		"Create":          write,
		"Get":             readAll,
		"List":            readAll,
		"ListOwner":       listAll,
		"ListOwnerSales1": {"admin": ok, "manager": ok, "sales1": ok, "sales2": denied, "service": ok, "executive": ok},
		"Update":          write,
		"Complete":        write,
		"Delete": {"admin": ok, "manager": ok, "managerW": hidden, "sales1": ok, "sales2": hidden,
			"service": denied, "executive": denied, "system": denied, "": anon},
		"Due":     listAll,
		"Overdue": listAll,
	}
	for rpc, byUser := range matrix {
		for user, want := range byUser {
			t.Run(rpc+"/"+user, func(t *testing.T) {
				err := calls[rpc](as(t, user), e.create(t, "u-sales1", 3))
				if got := status.Code(err); got != want {
					t.Fatalf("%s as %q: %v, want %v", rpc, user, err, want)
				}
			})
		}
	}
}

func TestCreateNeedsAVisibleLiveCustomer(t *testing.T) {
	t.Parallel()
	e := start(t)
	create := func(user, customerID string) error {
		_, err := e.client.CreateFollowUp(as(t, user), &followupv1.CreateFollowUpRequest{CustomerId: customerID, Followup: e.input(2)})
		return err
	}
	for _, tc := range []struct {
		user, customer string
		code           codes.Code
		reason         string
	}{
		{"admin", custUnknown, codes.NotFound, "CUSTOMER_NOT_FOUND"},
		{"sales2", custA, codes.NotFound, "CUSTOMER_NOT_FOUND"},
		{"managerW", custA, codes.NotFound, "CUSTOMER_NOT_FOUND"},
		{"sales1", custW, codes.NotFound, "CUSTOMER_NOT_FOUND"},
		{"service", custW, codes.OK, ""},
	} {
		err := create(tc.user, tc.customer)
		info, _ := errorInfo(err)
		if status.Code(err) != tc.code || info.GetReason() != tc.reason {
			t.Errorf("%s creates for %s: %v, want %v %s", tc.user, tc.customer, err, tc.code, tc.reason)
		}
	}

	// sales1 keeps a record of customer A, then the customer is deleted (the projection hears of it).
	rec, err := e.client.CreateFollowUp(as(t, "sales1"), &followupv1.CreateFollowUpRequest{CustomerId: custA, Followup: e.input(2)})
	if err != nil {
		t.Fatal(err)
	}
	applyCustomer(t, e, &customerv1.Customer{CustomerId: custA, OwnerId: "u-sales1", TeamId: "east", DeleteTime: timestamppb.Now()}, 2)
	err = create("sales1", custA)
	if info, _ := errorInfo(err); status.Code(err) != codes.FailedPrecondition || info.GetReason() != "CUSTOMER_DELETED" {
		t.Fatalf("create for a deleted customer: %v", err)
	}
	// The deleted customer's records: gone for the rep, visible but frozen for admins.
	if _, err := e.client.GetFollowUp(as(t, "sales1"), &followupv1.GetFollowUpRequest{FollowupId: rec.GetFollowupId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("rep reads a deleted customer's record: %v", err)
	}
	if _, err := e.client.ListFollowUps(as(t, "sales1"), &followupv1.ListFollowUpsRequest{CustomerId: custA}); status.Code(err) != codes.NotFound {
		t.Fatalf("rep lists a deleted customer's records: %v", err)
	}
	if l, err := e.client.ListFollowUps(as(t, "admin"), &followupv1.ListFollowUpsRequest{CustomerId: custA}); err != nil || len(l.GetFollowups()) != 1 {
		t.Fatalf("admin lists a deleted customer's records: %v %v", l, err)
	}
	_, err = e.client.CompleteFollowUp(as(t, "admin"), &followupv1.CompleteFollowUpRequest{FollowupId: rec.GetFollowupId()})
	if info, _ := errorInfo(err); status.Code(err) != codes.FailedPrecondition || info.GetReason() != "CUSTOMER_DELETED" {
		t.Fatalf("complete a deleted customer's record: %v", err)
	}
	if due, err := e.client.ListDueActions(as(t, "admin"), &followupv1.ListDueActionsRequest{OwnerId: "u-sales1"}); err != nil || len(due.GetDueActions()) != 0 {
		t.Fatalf("a deleted customer's actions are due: %v %v", due, err)
	}

	// A merged customer takes no new records either; the error names the survivor.
	applyCustomer(t, e, &customerv1.Customer{CustomerId: custW, OwnerId: "u-sales9", TeamId: "west", MergedInto: custA}, 2)
	err = create("admin", custW)
	if info, _ := errorInfo(err); status.Code(err) != codes.FailedPrecondition || info.GetReason() != "CUSTOMER_MERGED" || info.GetMetadata()["merged_into"] != custA {
		t.Fatalf("create for a merged customer: %v", err)
	}
}

// applyCustomer feeds the projection a customer event, as its consumer would.
func applyCustomer(t *testing.T, e env, c *customerv1.Customer, version int64) {
	t.Helper()
	data, err := anypb.New(c)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := events.New(context.Background(), "customer", "customer", "updated", c.GetCustomerId(),
		&commonv1.Actor{UserId: "u-admin", Role: "admin"}, version, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev.Data = data
	if err := e.projection.Apply(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
}

func TestValidationErrorsInBothLanguages(t *testing.T) {
	t.Parallel()
	e := start(t)
	in := e.input(2)
	in.Content, in.Method, in.NextActionDueDate = "   ", followupv1.ContactMethod_CONTACT_METHOD_UNSPECIFIED, nil
	in.ContactTime = timestamppb.New(e.clock.now().Add(time.Hour))
	in.OwnerId = "u-sales2"
	for lang, want := range map[string]string{"": "沟通内容不能为空", "en": "Content is required"} {
		ctx := as(t, "sales1")
		if lang != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "accept-language", lang)
		}
		_, err := e.client.CreateFollowUp(ctx, &followupv1.CreateFollowUpRequest{CustomerId: custA, Followup: in})
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("code = %v", err)
		}
		_, fields := errorInfo(err)
		for _, f := range []string{"content", "method", "contact_time", "next_action_due_date", "owner_id"} {
			if fields[f] == "" {
				t.Errorf("lang %q: no violation for %s in %v", lang, f, fields)
			}
		}
		if fields["content"] != want {
			t.Errorf("lang %q: content message %q, want %q", lang, fields["content"], want)
		}
	}
	// A due date in the past: refused on create, accepted on update (the action became overdue).
	past := e.input(-1)
	past.NextAction, past.NextActionDueDate = "回访", e.day(-1)
	_, err := e.client.CreateFollowUp(as(t, "sales1"), &followupv1.CreateFollowUpRequest{CustomerId: custA, Followup: past})
	if _, fields := errorInfo(err); fields["next_action_due_date"] == "" {
		t.Fatalf("past due date on create: %v", err)
	}
	rec := e.create(t, "u-sales1", 2)
	if _, err := e.client.UpdateFollowUp(as(t, "sales1"), &followupv1.UpdateFollowUpRequest{
		Followup:   &followupv1.FollowUp{FollowupId: rec.GetFollowupId(), NextActionDueDate: e.day(-3)},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"next_action_due_date"}}}); err != nil {
		t.Fatalf("past due date on update: %v", err)
	}
	for _, bad := range []*followupv1.GetFollowUpRequest{{FollowupId: ""}, {FollowupId: "X123"}, {FollowupId: "F2026"}} {
		if _, err := e.client.GetFollowUp(as(t, "admin"), bad); status.Code(err) != codes.InvalidArgument {
			t.Errorf("get %q: %v", bad.GetFollowupId(), err)
		}
	}
}

func TestIdempotentCreate(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := as(t, "sales1")
	in := e.input(2)
	first, err := e.client.CreateFollowUp(ctx, &followupv1.CreateFollowUpRequest{CustomerId: custA, Followup: in, RequestId: "r-1"})
	if err != nil {
		t.Fatal(err)
	}
	if first.GetOwnerId() != "u-sales1" || first.GetTeamId() != "east" || first.GetCreatedBy() != "u-sales1" || first.GetEtag() != "1" ||
		!strings.HasPrefix(first.GetFollowupId(), "F2026") {
		t.Fatalf("defaults not applied: %v", first)
	}
	again, err := e.client.CreateFollowUp(ctx, &followupv1.CreateFollowUpRequest{CustomerId: custA, Followup: in, RequestId: "r-1"})
	if err != nil || again.GetFollowupId() != first.GetFollowupId() {
		t.Fatalf("retry created another: %v %v", again, err)
	}
	other := e.input(2)
	other.Content = "另一段内容"
	_, err = e.client.CreateFollowUp(ctx, &followupv1.CreateFollowUpRequest{CustomerId: custA, Followup: other, RequestId: "r-1"})
	if _, fields := errorInfo(err); status.Code(err) != codes.InvalidArgument || fields["request_id"] == "" {
		t.Fatalf("request id reused with other content: %v", err)
	}
	list, err := e.client.ListFollowUps(ctx, &followupv1.ListFollowUpsRequest{CustomerId: custA})
	if err != nil || len(list.GetFollowups()) != 1 {
		t.Fatalf("records after retries: %v %v", list, err)
	}
}

func TestUpdateEtagOwnerAndReopen(t *testing.T) {
	t.Parallel()
	e := start(t)
	rec := e.create(t, "u-sales1", 2)
	ctx := as(t, "sales1")
	update := func(ctx context.Context, f *followupv1.FollowUp, paths ...string) (*followupv1.FollowUp, error) {
		f.FollowupId = rec.GetFollowupId()
		return e.client.UpdateFollowUp(ctx, &followupv1.UpdateFollowUpRequest{Followup: f, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
	}
	upd, err := update(ctx, &followupv1.FollowUp{Etag: rec.GetEtag(), CompetitorNotes: "对手降价"}, "competitor_notes")
	if err != nil || upd.GetEtag() != "2" || upd.GetCompetitorNotes() != "对手降价" || upd.GetContent() != rec.GetContent() {
		t.Fatalf("update: %v %v", upd, err)
	}
	_, err = update(ctx, &followupv1.FollowUp{Etag: rec.GetEtag(), Content: "晚到的修改"}, "content")
	if info, _ := errorInfo(err); status.Code(err) != codes.Aborted || info.GetReason() != "ETAG_MISMATCH" {
		t.Fatalf("stale etag: %v", err)
	}
	if _, err := update(ctx, &followupv1.FollowUp{OwnerId: "u-sales2"}, "owner_id"); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("sales changes owner: %v", err)
	}
	if _, err := update(ctx, &followupv1.FollowUp{}, "*"); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("wildcard mask: %v", err)
	}
	if got, err := update(as(t, "manager"), &followupv1.FollowUp{OwnerId: "u-sales2"}, "owner_id"); err != nil || got.GetOwnerId() != "u-sales2" {
		t.Fatalf("manager changes owner: %v %v", got, err)
	}

	done, err := e.client.CompleteFollowUp(ctx, &followupv1.CompleteFollowUpRequest{FollowupId: rec.GetFollowupId()})
	if err != nil || !done.GetDone() || done.GetDoneBy() != "u-sales1" || done.GetDoneTime() == nil {
		t.Fatalf("complete: %v %v", done, err)
	}
	_, err = e.client.CompleteFollowUp(ctx, &followupv1.CompleteFollowUpRequest{FollowupId: rec.GetFollowupId()})
	if info, _ := errorInfo(err); status.Code(err) != codes.FailedPrecondition || info.GetReason() != "ALREADY_DONE" {
		t.Fatalf("second completion: %v", err)
	}
	reopened, err := update(ctx, &followupv1.FollowUp{NextAction: "上门演示", NextActionDueDate: e.day(5)}, "next_action", "next_action_due_date")
	if err != nil || reopened.GetDone() || reopened.GetDoneTime() != nil || reopened.GetNextAction() != "上门演示" {
		t.Fatalf("new next action did not reopen: %v %v", reopened, err)
	}
	cleared, err := update(ctx, &followupv1.FollowUp{}, "next_action")
	if err != nil || cleared.GetNextAction() != "" || cleared.GetNextActionDueDate() != nil {
		t.Fatalf("clear next action: %v %v", cleared, err)
	}
	_, err = e.client.CompleteFollowUp(ctx, &followupv1.CompleteFollowUpRequest{FollowupId: rec.GetFollowupId()})
	if info, _ := errorInfo(err); status.Code(err) != codes.FailedPrecondition || info.GetReason() != "NO_NEXT_ACTION" {
		t.Fatalf("complete without next action: %v", err)
	}
}

func TestDeleteOnlyOwnRecordsAsSales(t *testing.T) {
	t.Parallel()
	e := start(t)
	byService, err := e.client.CreateFollowUp(as(t, "service"), &followupv1.CreateFollowUpRequest{CustomerId: custA, Followup: e.input(1)})
	if err != nil || byService.GetOwnerId() != "u-service" {
		t.Fatalf("service record: %v %v", byService, err)
	}
	_, err = e.client.DeleteFollowUp(as(t, "sales1"), &followupv1.DeleteFollowUpRequest{FollowupId: byService.GetFollowupId()})
	if info, _ := errorInfo(err); status.Code(err) != codes.PermissionDenied || info.GetReason() != "NOT_FOLLOWUP_OWNER" {
		t.Fatalf("sales deletes the service agent's record: %v", err)
	}
	del, err := e.client.DeleteFollowUp(as(t, "manager"), &followupv1.DeleteFollowUpRequest{FollowupId: byService.GetFollowupId(), Etag: byService.GetEtag()})
	if err != nil || del.GetDeleteTime() == nil || del.GetDeletedBy() != "u-manager" {
		t.Fatalf("manager deletes: %v %v", del, err)
	}
	if _, err := e.client.GetFollowUp(as(t, "admin"), &followupv1.GetFollowUpRequest{FollowupId: byService.GetFollowupId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("deleted record readable: %v", err)
	}
}

func TestListsAreScopedAndPaged(t *testing.T) {
	t.Parallel()
	e := start(t)
	var ids []string
	for i := range 5 {
		in := e.input(-1)
		in.ContactTime = timestamppb.New(e.clock.now().Add(-time.Duration(10-i) * time.Hour))
		if i%2 == 0 {
			in.Method = followupv1.ContactMethod_CONTACT_METHOD_WECHAT
		}
		f, err := e.client.CreateFollowUp(as(t, "sales1"), &followupv1.CreateFollowUpRequest{CustomerId: custA, Followup: in})
		if err != nil {
			t.Fatal(err)
		}
		ids = append([]string{f.GetFollowupId()}, ids...) // newest contact first
	}
	if _, err := e.client.CreateFollowUp(as(t, "admin"), &followupv1.CreateFollowUpRequest{CustomerId: custW, Followup: e.input(-1)}); err != nil {
		t.Fatal(err)
	}
	ctx := as(t, "sales1")
	var got []string
	req := &followupv1.ListFollowUpsRequest{CustomerId: custA, PageSize: 2}
	for pages := 0; ; pages++ {
		page, err := e.client.ListFollowUps(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range page.GetFollowups() {
			got = append(got, f.GetFollowupId())
		}
		if page.GetNextPageToken() == "" || pages > 10 {
			break
		}
		req.PageToken = page.GetNextPageToken()
	}
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Fatalf("pages = %v, want newest contact first %v", got, ids)
	}
	first, _ := e.client.ListFollowUps(ctx, &followupv1.ListFollowUpsRequest{CustomerId: custA, PageSize: 2})
	if _, err := e.client.ListFollowUps(ctx, &followupv1.ListFollowUpsRequest{CustomerId: custA, PageSize: 2, PageToken: first.GetNextPageToken(), Filter: "method = WECHAT"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("token replayed with another filter: %v", err)
	}
	wechat, err := e.client.ListFollowUps(ctx, &followupv1.ListFollowUpsRequest{CustomerId: custA, Filter: "method = WECHAT AND done = false"})
	if err != nil || len(wechat.GetFollowups()) != 3 {
		t.Fatalf("filtered: %v %v", wechat, err)
	}
	if _, err := e.client.ListFollowUps(ctx, &followupv1.ListFollowUpsRequest{CustomerId: custA, Filter: "mobile = 1"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("unknown filter field: %v", err)
	}
	count := func(user, owner string) int {
		resp, err := e.client.ListOwnerFollowUps(as(t, user), &followupv1.ListOwnerFollowUpsRequest{OwnerId: owner})
		if err != nil {
			t.Fatalf("%s lists %q: %v", user, owner, err)
		}
		return len(resp.GetFollowups())
	}
	for _, tc := range []struct {
		user, owner string
		want        int
	}{
		{"sales1", "", 5}, {"sales2", "", 0}, {"manager", "", 5}, {"managerW", "", 1}, {"admin", "", 6},
		{"admin", "u-admin", 1}, {"manager", "u-sales1", 5}, {"executive", "", 6}, {"service", "u-sales1", 5},
	} {
		if got := count(tc.user, tc.owner); got != tc.want {
			t.Errorf("%s lists owner %q: %d records, want %d", tc.user, tc.owner, got, tc.want)
		}
	}
	// Executives see the contact's name masked.
	got2, err := e.client.GetFollowUp(as(t, "executive"), &followupv1.GetFollowUpRequest{FollowupId: ids[0]})
	if err != nil || got2.GetContactName() != "陈*" {
		t.Fatalf("executive sees contact %q (%v)", got2.GetContactName(), err)
	}
}

func TestDueAndOverdueWithFixedClock(t *testing.T) {
	t.Parallel()
	e := start(t)
	// Created on Friday 2026-11-20 10:00 China time.
	dueIn := map[string]int{"today": 0, "in2": 2, "in10": 10, "in17": 17, "in30": 30}
	recs := map[string]*followupv1.FollowUp{}
	for name, d := range dueIn {
		recs[name] = e.create(t, "u-sales1", d)
	}
	e.create(t, "u-sales1", -1) // no next action
	done := e.create(t, "u-sales1", 1)
	if _, err := e.client.CompleteFollowUp(as(t, "sales1"), &followupv1.CompleteFollowUpRequest{FollowupId: done.GetFollowupId()}); err != nil {
		t.Fatal(err)
	}
	other := e.create(t, "u-service", 1)

	// Three days later, at 00:30 on Monday 2026-11-23 in China: still Sunday in UTC.
	e.clock.set(time.Date(2026, 11, 22, 16, 30, 0, 0, time.UTC))
	type item struct {
		id      string
		overdue bool
		days    int32
	}
	list := func(resp interface {
		GetDueActions() []*followupv1.DueAction
	}) []item {
		var out []item
		for _, a := range resp.GetDueActions() {
			out = append(out, item{a.GetFollowup().GetFollowupId(), a.GetOverdue(), a.GetDaysOverdue()})
		}
		return out
	}
	ctx := as(t, "sales1")
	due, err := e.client.ListDueActions(ctx, &followupv1.ListDueActionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// Within 7 days of Monday the 23rd (until the 30th): due the 20th (3 days late), 21st (the
	// service agent's, not sales1's), 22nd (1 day late) and the 30th (in10 was due on the 30th).
	want := []item{{recs["today"].GetFollowupId(), true, 3}, {recs["in2"].GetFollowupId(), true, 1}, {recs["in10"].GetFollowupId(), false, 0}}
	if fmt.Sprint(list(due)) != fmt.Sprint(want) {
		t.Fatalf("due for sales1 = %v, want %v", list(due), want)
	}
	withOther, err := e.client.ListDueActions(as(t, "manager"), &followupv1.ListDueActionsRequest{})
	if err != nil || len(withOther.GetDueActions()) != 4 || withOther.GetDueActions()[1].GetFollowup().GetFollowupId() != other.GetFollowupId() {
		t.Fatalf("due for the team = %v %v", list(withOther), err)
	}
	zero := int32(0)
	today, err := e.client.ListDueActions(ctx, &followupv1.ListDueActionsRequest{WithinDays: &zero})
	if err != nil || len(today.GetDueActions()) != 2 {
		t.Fatalf("within 0 days = %v %v", list(today), err)
	}
	month := int32(30)
	var paged []item
	req := &followupv1.ListDueActionsRequest{WithinDays: &month, PageSize: 2}
	for {
		page, err := e.client.ListDueActions(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, list(page)...)
		if page.GetNextPageToken() == "" {
			break
		}
		req.PageToken = page.GetNextPageToken()
	}
	if len(paged) != 5 || paged[4].id != recs["in30"].GetFollowupId() {
		t.Fatalf("within 30 days, paged = %v", paged)
	}
	overdue, err := e.client.ListOverdueActions(ctx, &followupv1.ListOverdueActionsRequest{})
	if err != nil || fmt.Sprint(list(overdue)) != fmt.Sprint(want[:2]) {
		t.Fatalf("overdue = %v %v", list(overdue), err)
	}
	if _, err := e.client.ListOverdueActions(ctx, &followupv1.ListOverdueActionsRequest{OwnerId: "u-service"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("sales lists another owner's actions: %v", err)
	}
	byOwner, err := e.client.ListOverdueActions(as(t, "admin"), &followupv1.ListOverdueActionsRequest{OwnerId: "u-service"})
	if err != nil || len(byOwner.GetDueActions()) != 1 || !byOwner.GetDueActions()[0].GetOverdue() {
		t.Fatalf("admin lists u-service's overdue actions: %v %v", list(byOwner), err)
	}
	tooFar := int32(400)
	if _, err := e.client.ListDueActions(ctx, &followupv1.ListDueActionsRequest{WithinDays: &tooFar}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("within 400 days: %v", err)
	}
	// Completing an overdue action takes it off the lists.
	if _, err := e.client.CompleteFollowUp(ctx, &followupv1.CompleteFollowUpRequest{FollowupId: recs["today"].GetFollowupId()}); err != nil {
		t.Fatal(err)
	}
	if overdue, err := e.client.ListOverdueActions(ctx, &followupv1.ListOverdueActionsRequest{}); err != nil || len(overdue.GetDueActions()) != 1 {
		t.Fatalf("overdue after completion = %v %v", list(overdue), err)
	}
}
