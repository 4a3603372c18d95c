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

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/customerref"
	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/export"
	"github.com/crmsuite/crm/pkg/grpcx"
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/testkit"
	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	needsv1 "github.com/crmsuite/crm/proto/gen/go/crm/needs/v1"
	"github.com/crmsuite/crm/services/needs/internal/server"
	"github.com/crmsuite/crm/services/needs/internal/store"
)

var secret = []byte("test-secret-test-secret-test-secret!")

// Customers the fake customer service knows.
const (
	custEast    = "CUST-20261123-0001" // owned by sales1, team east
	custWest    = "CUST-20261123-0002" // owned by sales9, team west
	custDeleted = "CUST-20261123-0003" // owned by sales1, deleted
	custMerged  = "CUST-20261123-0004" // owned by sales1, merged into custEast
	custUnknown = "CUST-20261123-0999"
)

// fakeCustomers stands in for the customer service at the edge of these tests: it answers
// GetCustomer for the customers above, as the projection asks for customers it has not seen.
type fakeCustomers struct {
	customerv1.UnimplementedCustomerServiceServer
	mu        sync.Mutex
	customers map[string]*customerv1.Customer
}

func (f *fakeCustomers) GetCustomer(_ context.Context, req *customerv1.GetCustomerRequest) (*customerv1.Customer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.customers[req.GetCustomerId()]
	if !ok {
		return nil, status.Error(codes.NotFound, "no such customer")
	}
	return c, nil
}

func start(t *testing.T) (needsv1.NeedServiceClient, *customerref.Projection) {
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

	fake := &fakeCustomers{customers: map[string]*customerv1.Customer{
		custEast:    {CustomerId: custEast, Name: "杭州甲科技有限公司", OwnerId: "u-sales1", TeamId: "east", Etag: "1"},
		custWest:    {CustomerId: custWest, Name: "成都乙贸易有限公司", OwnerId: "u-sales9", TeamId: "west", Etag: "1"},
		custDeleted: {CustomerId: custDeleted, OwnerId: "u-sales1", TeamId: "east", Etag: "3", DeleteTime: timestamppb.Now()},
		custMerged:  {CustomerId: custMerged, OwnerId: "u-sales1", TeamId: "east", Etag: "4", MergedInto: custEast},
	}}
	custSrv := grpc.NewServer()
	customerv1.RegisterCustomerServiceServer(custSrv, fake)
	customerv1.RegisterCustomerTransferServiceServer(custSrv, &testkit.CustomerRefs{Verifier: verifier,
		Customers: []*customerv1.Customer{fake.customers[custEast], fake.customers[custWest]}})
	custConn, err := grpc.NewClient(serve(t, custSrv), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { custConn.Close() })
	refs := customerref.New(pool, customerv1.NewCustomerServiceClient(custConn), func() (string, error) { return "system-token", nil })

	st := store.New(pool, server.EventData)
	srv, _ := grpcx.NewServer(grpcx.ServerConfig{Domain: server.Domain, Verifier: verifier, Policy: server.Policy, Logger: log})
	exporter := &export.Exporter{Pool: pool, Customers: customerv1.NewCustomerTransferServiceClient(custConn), Log: log}
	needsv1.RegisterNeedServiceServer(srv, server.New(st, refs, exporter, log))
	if missing := server.Policy.Uncovered(srv.GetServiceInfo()); len(missing) > 0 {
		t.Fatalf("RPCs without a permission: %v", missing)
	}
	conn, err := grpc.NewClient(serve(t, srv), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return needsv1.NewNeedServiceClient(conn), refs
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

// users of the tests: two sales reps of team east, a manager of east and one of west, and the
// other roles.
var users = map[string]authn.Principal{
	"admin":     {UserID: "u-admin", Team: "hq", Roles: []authn.Role{authn.RoleAdmin}},
	"manager":   {UserID: "u-manager", Team: "east", Roles: []authn.Role{authn.RoleManager}},
	"managerW":  {UserID: "u-manager-w", Team: "west", Roles: []authn.Role{authn.RoleManager}},
	"sales1":    {UserID: "u-sales1", Team: "east", Roles: []authn.Role{authn.RoleSales}},
	"sales2":    {UserID: "u-sales2", Team: "east", Roles: []authn.Role{authn.RoleSales}},
	"service":   {UserID: "u-service", Team: "support", Roles: []authn.Role{authn.RoleService}},
	"executive": {UserID: "u-exec", Team: "hq", Roles: []authn.Role{authn.RoleExecutive}},
	"system":    {UserID: "service:reports", Roles: []authn.Role{authn.RoleSystem}},
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

func yuan(units int64, fen int32) *money.Money {
	return &money.Money{CurrencyCode: "CNY", Units: units, Nanos: fen * 10_000_000}
}

// input returns a valid new need.
func input() *needsv1.Need {
	return &needsv1.Need{
		Title: "智能仓储系统采购", Type: needsv1.NeedType_NEED_TYPE_PROCUREMENT, Description: "三期仓库自动化改造",
		BudgetMin: yuan(500_000, 0), BudgetMax: yuan(800_000, 0), ExpectedAmount: yuan(650_000, 50),
		ExpectedCloseDate: &date.Date{Year: 2026, Month: 12, Day: 31}, Department: "华东大客户部",
		Competitors: []string{"海康机器人", "极智嘉"},
	}
}

// create creates a need of custEast (owned by sales1) as the admin.
func create(t *testing.T, c needsv1.NeedServiceClient) *needsv1.Need {
	t.Helper()
	n, err := c.CreateNeed(as(t, "admin"), &needsv1.CreateNeedRequest{CustomerId: custEast, Need: input()})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func errorInfo(err error) *errdetails.ErrorInfo {
	for _, d := range status.Convert(err).Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok {
			return i
		}
	}
	return nil
}

func TestRoleMatrix(t *testing.T) {
	t.Parallel()
	c, _ := start(t)
	type call func(ctx context.Context, n *needsv1.Need) error
	calls := map[string]call{
		"Create": func(ctx context.Context, _ *needsv1.Need) error {
			_, err := c.CreateNeed(ctx, &needsv1.CreateNeedRequest{CustomerId: custEast, Need: input()})
			return err
		},
		"Get": func(ctx context.Context, n *needsv1.Need) error {
			_, err := c.GetNeed(ctx, &needsv1.GetNeedRequest{NeedId: n.GetNeedId()})
			return err
		},
		"List": func(ctx context.Context, _ *needsv1.Need) error {
			_, err := c.ListNeeds(ctx, &needsv1.ListNeedsRequest{})
			return err
		},
		"ListCustomer": func(ctx context.Context, _ *needsv1.Need) error {
			_, err := c.ListCustomerNeeds(ctx, &needsv1.ListCustomerNeedsRequest{CustomerId: custEast})
			return err
		},
		"Update": func(ctx context.Context, n *needsv1.Need) error {
			_, err := c.UpdateNeed(ctx, &needsv1.UpdateNeedRequest{Need: &needsv1.Need{NeedId: n.GetNeedId(), Title: "智能仓储系统采购（二期）"},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}})
			return err
		},
		"UpdateOwner": func(ctx context.Context, n *needsv1.Need) error {
			_, err := c.UpdateNeed(ctx, &needsv1.UpdateNeedRequest{Need: &needsv1.Need{NeedId: n.GetNeedId(), OwnerId: "u-sales2"},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"owner_id"}}})
			return err
		},
		"ChangeStage": func(ctx context.Context, n *needsv1.Need) error {
			_, err := c.ChangeNeedStage(ctx, &needsv1.ChangeNeedStageRequest{NeedId: n.GetNeedId(), Stage: needsv1.NeedStage_NEED_STAGE_PROPOSAL})
			return err
		},
		"Reopen": func(ctx context.Context, n *needsv1.Need) error {
			if _, err := c.ChangeNeedStage(as(t, "admin"), &needsv1.ChangeNeedStageRequest{NeedId: n.GetNeedId(),
				Stage: needsv1.NeedStage_NEED_STAGE_LOST, Reason: "预算冻结"}); err != nil {
				t.Fatal(err)
			}
			_, err := c.ReopenNeed(ctx, &needsv1.ReopenNeedRequest{NeedId: n.GetNeedId(), Stage: needsv1.NeedStage_NEED_STAGE_CONFIRMED, Reason: "预算解冻"})
			return err
		},
		"StageChanges": func(ctx context.Context, n *needsv1.Need) error {
			_, err := c.ListNeedStageChanges(ctx, &needsv1.ListNeedStageChangesRequest{NeedId: n.GetNeedId()})
			return err
		},
		"Delete": func(ctx context.Context, n *needsv1.Need) error {
			_, err := c.DeleteNeed(ctx, &needsv1.DeleteNeedRequest{NeedId: n.GetNeedId()})
			return err
		},
		"Pipeline": func(ctx context.Context, _ *needsv1.Need) error {
			_, err := c.GetPipeline(ctx, &needsv1.GetPipelineRequest{GroupByOwner: true})
			return err
		},
	}
	const (
		ok     = codes.OK
		denied = codes.PermissionDenied
		hidden = codes.NotFound
		bad    = codes.InvalidArgument
		anon   = codes.Unauthenticated
	)
	reader := map[string]codes.Code{"admin": ok, "manager": ok, "managerW": hidden, "sales1": ok, "sales2": hidden,
		"service": ok, "executive": ok, "system": ok, "": anon}
	writer := map[string]codes.Code{"admin": ok, "manager": ok, "managerW": hidden, "sales1": ok, "sales2": hidden,
		"service": denied, "executive": denied, "system": denied, "": anon}
	everyReader := map[string]codes.Code{"admin": ok, "manager": ok, "managerW": ok, "sales1": ok, "sales2": ok,
		"service": ok, "executive": ok, "system": ok, "": anon}
	// The need under test belongs to custEast: owned by sales1 of team east.
	matrix := map[string]map[string]codes.Code{
		"Create":       writer,
		"Get":          reader,
		"List":         everyReader,
		"ListCustomer": reader,
		"Update":       writer,
		"UpdateOwner": {"admin": ok, "manager": ok, "managerW": hidden, "sales1": bad, "sales2": hidden,
			"service": denied, "executive": denied, "system": denied},
		"ChangeStage":  writer,
		"Reopen":       writer,
		"StageChanges": reader,
		"Delete":       writer,
		"Pipeline":     everyReader,
	}
	for rpc, byUser := range matrix {
		for user, want := range byUser {
			t.Run(rpc+"/"+user, func(t *testing.T) {
				t.Parallel()
				err := calls[rpc](as(t, user), create(t, c))
				if got := status.Code(err); got != want {
					t.Fatalf("%s as %q: %v, want %v", rpc, user, err, want)
				}
			})
		}
	}
}

func TestListAndPipelineAreScopedByRole(t *testing.T) {
	t.Parallel()
	c, _ := start(t)
	create(t, c)
	if _, err := c.CreateNeed(as(t, "admin"), &needsv1.CreateNeedRequest{CustomerId: custWest, Need: input()}); err != nil {
		t.Fatal(err)
	}
	for user, want := range map[string]int{"admin": 2, "manager": 1, "managerW": 1, "sales1": 1, "sales2": 0, "service": 2, "executive": 2, "system": 2} {
		resp, err := c.ListNeeds(as(t, user), &needsv1.ListNeedsRequest{})
		if err != nil || len(resp.GetNeeds()) != want {
			t.Errorf("%s lists %d needs (%v), want %d", user, len(resp.GetNeeds()), err, want)
		}
		p, err := c.GetPipeline(as(t, user), &needsv1.GetPipelineRequest{})
		if err != nil || p.GetOpenCount() != int64(want) {
			t.Errorf("%s pipeline counts %d (%v), want %d", user, p.GetOpenCount(), err, want)
		}
	}
	// Asking for another team narrows, never widens.
	p, err := c.GetPipeline(as(t, "manager"), &needsv1.GetPipelineRequest{TeamId: "west"})
	if err != nil || p.GetOpenCount() != 0 {
		t.Fatalf("manager of east asking for west: %v %v", p, err)
	}
	resp, err := c.ListCustomerNeeds(as(t, "sales1"), &needsv1.ListCustomerNeedsRequest{CustomerId: custEast})
	if err != nil || len(resp.GetNeeds()) != 1 || resp.GetNeeds()[0].GetTeamId() != "east" {
		t.Fatalf("customer needs: %v %v", resp, err)
	}
}

func TestCreateValidationErrorsInBothLanguages(t *testing.T) {
	t.Parallel()
	c, _ := start(t)
	in := input()
	in.Title = ""
	in.Type = needsv1.NeedType_NEED_TYPE_UNSPECIFIED
	in.BudgetMin, in.BudgetMax = yuan(900_000, 0), yuan(800_000, 0)
	in.ExpectedAmount = &money.Money{CurrencyCode: "USD", Units: 10}
	in.Competitors = []string{strings.Repeat("竞", 51)}
	in.Stage = needsv1.NeedStage_NEED_STAGE_WON
	for lang, want := range map[string]string{"": "需求标题不能为空", "en": "Title is required"} {
		ctx := as(t, "sales1")
		if lang != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "accept-language", lang)
		}
		_, err := c.CreateNeed(ctx, &needsv1.CreateNeedRequest{CustomerId: custEast, Need: in})
		st := status.Convert(err)
		if st.Code() != codes.InvalidArgument {
			t.Fatalf("code = %v (%v)", st.Code(), err)
		}
		fields := map[string]string{}
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok {
				for _, v := range br.GetFieldViolations() {
					fields[v.GetField()] = v.GetDescription()
				}
			}
		}
		// Conversion and stage errors come first; the field rules follow once those are fixed.
		for _, f := range []string{"expected_amount", "stage"} {
			if fields[f] == "" {
				t.Errorf("lang %q: no violation for %s in %v", lang, f, fields)
			}
		}
		in2 := input()
		in2.Title, in2.Type = "", needsv1.NeedType_NEED_TYPE_UNSPECIFIED
		in2.BudgetMin, in2.BudgetMax = yuan(900_000, 0), yuan(800_000, 0)
		in2.Competitors = []string{"用友", strings.Repeat("竞", 51)}
		_, err = c.CreateNeed(ctx, &needsv1.CreateNeedRequest{CustomerId: custEast, Need: in2})
		fields = map[string]string{}
		for _, d := range status.Convert(err).Details() {
			if br, ok := d.(*errdetails.BadRequest); ok {
				for _, v := range br.GetFieldViolations() {
					fields[v.GetField()] = v.GetDescription()
				}
			}
		}
		for _, f := range []string{"title", "type", "budget_min", "competitors[1]"} {
			if fields[f] == "" {
				t.Errorf("lang %q: no violation for %s in %v", lang, f, fields)
			}
		}
		if !strings.Contains(fields["title"], want) {
			t.Errorf("lang %q: title message %q, want %q", lang, fields["title"], want)
		}
	}
	// A sales rep names only itself as owner.
	in = input()
	in.OwnerId = "u-sales2"
	if _, err := c.CreateNeed(as(t, "sales1"), &needsv1.CreateNeedRequest{CustomerId: custEast, Need: in}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("sales rep assigning another owner: %v", err)
	}
	if _, err := c.CreateNeed(as(t, "sales1"), &needsv1.CreateNeedRequest{CustomerId: "42", Need: input()}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("malformed customer id: %v", err)
	}
}

func TestCreateChecksTheCustomer(t *testing.T) {
	t.Parallel()
	c, _ := start(t)
	tests := []struct {
		customer string
		user     string
		code     codes.Code
		reason   string
	}{
		{custUnknown, "admin", codes.NotFound, "CUSTOMER_NOT_FOUND"},
		{custWest, "sales1", codes.NotFound, "CUSTOMER_NOT_FOUND"},
		{custWest, "manager", codes.NotFound, "CUSTOMER_NOT_FOUND"},
		{custDeleted, "admin", codes.FailedPrecondition, "CUSTOMER_DELETED"},
		{custDeleted, "sales1", codes.FailedPrecondition, "CUSTOMER_DELETED"},
		{custMerged, "sales1", codes.FailedPrecondition, "CUSTOMER_DELETED"},
	}
	for _, tt := range tests {
		_, err := c.CreateNeed(as(t, tt.user), &needsv1.CreateNeedRequest{CustomerId: tt.customer, Need: input()})
		if status.Code(err) != tt.code || errorInfo(err).GetReason() != tt.reason {
			t.Errorf("%s as %s: %v, want %v %s", tt.customer, tt.user, err, tt.code, tt.reason)
		}
	}
	_, err := c.CreateNeed(as(t, "sales1"), &needsv1.CreateNeedRequest{CustomerId: custMerged, Need: input()})
	if errorInfo(err).GetMetadata()["merged_into"] != custEast {
		t.Fatalf("merged customer: %v", errorInfo(err))
	}
	if _, err := c.ListCustomerNeeds(as(t, "admin"), &needsv1.ListCustomerNeedsRequest{CustomerId: custUnknown}); status.Code(err) != codes.NotFound {
		t.Fatalf("needs of an unknown customer: %v", err)
	}
	n, err := c.CreateNeed(as(t, "sales1"), &needsv1.CreateNeedRequest{CustomerId: strings.ToLower(custEast), Need: input()})
	if err != nil || n.GetOwnerId() != "u-sales1" || n.GetTeamId() != "east" || n.GetCustomerId() != custEast ||
		n.GetStage() != needsv1.NeedStage_NEED_STAGE_INITIAL || n.GetCreatedBy() != "u-sales1" || !strings.HasPrefix(n.GetNeedId(), "D") {
		t.Fatalf("defaults not applied: %v %v", n, err)
	}
	if n.GetExpectedAmount().GetUnits() != 650_000 || n.GetExpectedAmount().GetNanos() != 500_000_000 {
		t.Fatalf("amount = %v", n.GetExpectedAmount())
	}
	// A manager assigns the need to someone in its team.
	in := input()
	in.OwnerId = "u-sales2"
	in.Stage = needsv1.NeedStage_NEED_STAGE_PROPOSAL
	m, err := c.CreateNeed(as(t, "manager"), &needsv1.CreateNeedRequest{CustomerId: custEast, Need: in})
	if err != nil || m.GetOwnerId() != "u-sales2" || m.GetStage() != needsv1.NeedStage_NEED_STAGE_PROPOSAL {
		t.Fatalf("manager: %v %v", m, err)
	}
}

func TestIdempotentCreate(t *testing.T) {
	t.Parallel()
	c, _ := start(t)
	ctx := as(t, "sales1")
	first, err := c.CreateNeed(ctx, &needsv1.CreateNeedRequest{CustomerId: custEast, Need: input(), RequestId: "r-1"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.CreateNeed(ctx, &needsv1.CreateNeedRequest{CustomerId: custEast, Need: input(), RequestId: "r-1"})
	if err != nil || again.GetNeedId() != first.GetNeedId() {
		t.Fatalf("retry created another: %v %v", again, err)
	}
	other := input()
	other.Title = "另一个需求"
	_, err = c.CreateNeed(ctx, &needsv1.CreateNeedRequest{CustomerId: custEast, Need: other, RequestId: "r-1"})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(fmt.Sprint(status.Convert(err).Details()), "REQUEST_ID_REUSED") {
		t.Fatalf("reused request id: %v", err)
	}
	list, err := c.ListCustomerNeeds(ctx, &needsv1.ListCustomerNeedsRequest{CustomerId: custEast})
	if err != nil || len(list.GetNeeds()) != 1 {
		t.Fatalf("needs after retries: %v %v", list, err)
	}
}

func TestUpdateEtag(t *testing.T) {
	t.Parallel()
	c, _ := start(t)
	n := create(t, c)
	ctx := as(t, "sales1")
	upd := func(etag string, amount *money.Money) (*needsv1.Need, error) {
		return c.UpdateNeed(ctx, &needsv1.UpdateNeedRequest{
			Need:       &needsv1.Need{NeedId: n.GetNeedId(), Etag: etag, ExpectedAmount: amount, Competitors: []string{"华为"}},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"expected_amount", "competitors"}}})
	}
	got, err := upd(n.GetEtag(), yuan(700_000, 1))
	if err != nil || got.GetEtag() == n.GetEtag() || got.GetExpectedAmount().GetNanos() != 10_000_000 || len(got.GetCompetitors()) != 1 {
		t.Fatalf("update: %v %v", got, err)
	}
	_, err = upd(n.GetEtag(), yuan(1, 0))
	if status.Code(err) != codes.Aborted || errorInfo(err).GetReason() != "ETAG_MISMATCH" {
		t.Fatalf("stale etag: %v", err)
	}
	// Clearing a field: in the mask, absent from the need.
	cleared, err := upd(`W/"`+got.GetEtag()+`"`, nil)
	if err != nil || cleared.GetExpectedAmount() != nil {
		t.Fatalf("clear amount: %v %v", cleared, err)
	}
	for _, paths := range [][]string{{"stage"}, {"*"}, {}, {"customer_id"}} {
		_, err := c.UpdateNeed(ctx, &needsv1.UpdateNeedRequest{Need: &needsv1.Need{NeedId: n.GetNeedId(), Stage: needsv1.NeedStage_NEED_STAGE_WON},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("mask %v: %v", paths, err)
		}
	}
	if _, err := c.UpdateNeed(ctx, &needsv1.UpdateNeedRequest{Need: &needsv1.Need{NeedId: n.GetNeedId(), BudgetMin: yuan(900_000, 0)},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"budget_min"}}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("budget min above max: %v", err)
	}
}

func TestStageChangesAndReopen(t *testing.T) {
	t.Parallel()
	c, _ := start(t)
	n := create(t, c)
	ctx := as(t, "sales1")
	stage := func(to needsv1.NeedStage, reason string) (*needsv1.Need, error) {
		return c.ChangeNeedStage(ctx, &needsv1.ChangeNeedStageRequest{NeedId: n.GetNeedId(), Stage: to, Reason: reason})
	}
	_, err := stage(needsv1.NeedStage_NEED_STAGE_WON, "")
	info := errorInfo(err)
	if status.Code(err) != codes.FailedPrecondition || info.GetReason() != "ILLEGAL_STAGE_TRANSITION" ||
		info.GetMetadata()["allowed"] != "confirmed,proposal,quotation,negotiation,lost" || info.GetMetadata()["from"] != "initial" {
		t.Fatalf("initial → won: %v %v", err, info)
	}
	if _, err := stage(needsv1.NeedStage_NEED_STAGE_LOST, ""); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("lost without reason: %v", err)
	}
	if _, err := stage(needsv1.NeedStage_NEED_STAGE_UNSPECIFIED, ""); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("no stage: %v", err)
	}
	if _, err := c.ReopenNeed(ctx, &needsv1.ReopenNeedRequest{NeedId: n.GetNeedId(), Stage: needsv1.NeedStage_NEED_STAGE_INITIAL, Reason: "x"}); errorInfo(err).GetReason() != "NEED_NOT_CLOSED" {
		t.Fatalf("reopen of an open need: %v", err)
	}
	for _, to := range []needsv1.NeedStage{needsv1.NeedStage_NEED_STAGE_QUOTATION, needsv1.NeedStage_NEED_STAGE_CONFIRMED, needsv1.NeedStage_NEED_STAGE_NEGOTIATION} {
		if _, err := stage(to, ""); err != nil {
			t.Fatalf("to %v: %v", to, err)
		}
	}
	won, err := stage(needsv1.NeedStage_NEED_STAGE_WON, "合同已签")
	if err != nil || won.GetStage() != needsv1.NeedStage_NEED_STAGE_WON || won.GetStageChangedBy() != "u-sales1" {
		t.Fatalf("won: %v %v", won, err)
	}
	if _, err := stage(needsv1.NeedStage_NEED_STAGE_NEGOTIATION, ""); errorInfo(err).GetReason() != "ILLEGAL_STAGE_TRANSITION" || errorInfo(err).GetMetadata()["allowed"] != "" {
		t.Fatalf("out of won: %v", err)
	}
	// English callers get English text.
	_, err = c.ChangeNeedStage(metadata.AppendToOutgoingContext(ctx, "accept-language", "en"), &needsv1.ChangeNeedStageRequest{
		NeedId: n.GetNeedId(), Stage: needsv1.NeedStage_NEED_STAGE_LOST, Reason: "x"})
	if !strings.Contains(status.Convert(err).Message(), "reopened first") {
		t.Fatalf("english message: %v", err)
	}
	if _, err := c.ReopenNeed(ctx, &needsv1.ReopenNeedRequest{NeedId: n.GetNeedId(), Stage: needsv1.NeedStage_NEED_STAGE_PROPOSAL}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("reopen without reason: %v", err)
	}
	if _, err := c.ReopenNeed(ctx, &needsv1.ReopenNeedRequest{NeedId: n.GetNeedId(), Stage: needsv1.NeedStage_NEED_STAGE_LOST, Reason: "x"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("reopen to lost: %v", err)
	}
	re, err := c.ReopenNeed(ctx, &needsv1.ReopenNeedRequest{NeedId: n.GetNeedId(), Stage: needsv1.NeedStage_NEED_STAGE_PROPOSAL, Reason: "合同作废，重新报价", Etag: won.GetEtag()})
	if err != nil || re.GetStage() != needsv1.NeedStage_NEED_STAGE_PROPOSAL {
		t.Fatalf("reopen: %v %v", re, err)
	}
	lost, err := stage(needsv1.NeedStage_NEED_STAGE_LOST, "  客户选择了竞品  ")
	if err != nil || lost.GetLostReason() != "客户选择了竞品" {
		t.Fatalf("lost: %v %v", lost, err)
	}

	var path []string
	var token string
	for {
		page, err := c.ListNeedStageChanges(as(t, "executive"), &needsv1.ListNeedStageChangesRequest{NeedId: n.GetNeedId(), PageSize: 3, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range page.GetStageChanges() {
			path = append(path, fmt.Sprintf("%s>%s %s %v", short(ch.GetFromStage()), short(ch.GetToStage()), ch.GetReason(), ch.GetReopened()))
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	want := []string{"UNSPECIFIED>INITIAL  false", "INITIAL>QUOTATION  false", "QUOTATION>CONFIRMED  false", "CONFIRMED>NEGOTIATION  false",
		"NEGOTIATION>WON 合同已签 false", "WON>PROPOSAL 合同作废，重新报价 true", "PROPOSAL>LOST 客户选择了竞品 false"}
	if strings.Join(path, "|") != strings.Join(want, "|") {
		t.Fatalf("history:\n%s\nwant\n%s", strings.Join(path, "\n"), strings.Join(want, "\n"))
	}
	if _, err := c.ListNeedStageChanges(as(t, "sales2"), &needsv1.ListNeedStageChangesRequest{NeedId: n.GetNeedId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("other rep reads history: %v", err)
	}

	del, err := c.DeleteNeed(ctx, &needsv1.DeleteNeedRequest{NeedId: n.GetNeedId(), Etag: lost.GetEtag()})
	if err != nil || del.GetDeleteTime() == nil || del.GetDeletedBy() != "u-sales1" {
		t.Fatalf("delete: %v %v", del, err)
	}
	if _, err := c.GetNeed(ctx, &needsv1.GetNeedRequest{NeedId: n.GetNeedId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("deleted need: %v", err)
	}
}

func short(s needsv1.NeedStage) string { return strings.TrimPrefix(s.String(), "NEED_STAGE_") }

// TestPipelineSumsInFen checks the pipeline figures to the fen with several owners and stages.
func TestPipelineSumsInFen(t *testing.T) {
	t.Parallel()
	c, _ := start(t)
	admin := as(t, "admin")
	add := func(customer, owner string, to needsv1.NeedStage, amount *money.Money) {
		t.Helper()
		in := input()
		in.OwnerId, in.ExpectedAmount = owner, amount
		n, err := c.CreateNeed(admin, &needsv1.CreateNeedRequest{CustomerId: customer, Need: in})
		if err != nil {
			t.Fatal(err)
		}
		if to == needsv1.NeedStage_NEED_STAGE_WON {
			if _, err := c.ChangeNeedStage(admin, &needsv1.ChangeNeedStageRequest{NeedId: n.GetNeedId(), Stage: needsv1.NeedStage_NEED_STAGE_NEGOTIATION}); err != nil {
				t.Fatal(err)
			}
		}
		if to != needsv1.NeedStage_NEED_STAGE_INITIAL {
			if _, err := c.ChangeNeedStage(admin, &needsv1.ChangeNeedStageRequest{NeedId: n.GetNeedId(), Stage: to, Reason: "预算取消"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// u-a (customer east): initial 0.05 + 0.04 → 0.09 yuan × 10 % = 0.9 fen → 1 fen;
	//   proposal 1,234.57 × 40 % = 493.828 → 493.83; lost 99.99 → 0.
	// u-b (customer east): initial 0.01 × 10 % = 0.1 fen → 0; quotation 333.33 × 60 % = 199.998 → 200.00;
	//   negotiation 1,000,000.01 × 80 % = 800,000.008 → 800,000.01; won 5,000.00 in full.
	// u-c (customer west): negotiation without an amount (counts, adds nothing); won 0.99.
	add(custEast, "u-a", needsv1.NeedStage_NEED_STAGE_INITIAL, yuan(0, 5))
	add(custEast, "u-a", needsv1.NeedStage_NEED_STAGE_INITIAL, yuan(0, 4))
	add(custEast, "u-a", needsv1.NeedStage_NEED_STAGE_PROPOSAL, yuan(1234, 57))
	add(custEast, "u-a", needsv1.NeedStage_NEED_STAGE_LOST, yuan(99, 99))
	add(custEast, "u-b", needsv1.NeedStage_NEED_STAGE_INITIAL, yuan(0, 1))
	add(custEast, "u-b", needsv1.NeedStage_NEED_STAGE_QUOTATION, yuan(333, 33))
	add(custEast, "u-b", needsv1.NeedStage_NEED_STAGE_NEGOTIATION, yuan(1_000_000, 1))
	add(custEast, "u-b", needsv1.NeedStage_NEED_STAGE_WON, yuan(5000, 0))
	add(custWest, "u-c", needsv1.NeedStage_NEED_STAGE_NEGOTIATION, nil)
	add(custWest, "u-c", needsv1.NeedStage_NEED_STAGE_WON, yuan(0, 99))

	fenOf := func(m *money.Money) int64 {
		if m.GetCurrencyCode() != "CNY" || m.GetNanos()%10_000_000 != 0 {
			t.Fatalf("money %v", m)
		}
		return m.GetUnits()*100 + int64(m.GetNanos()/10_000_000)
	}
	// row renders a stage as "count amount weighted" in fen.
	rows := func(stages []*needsv1.PipelineStage) string {
		var out []string
		for _, s := range stages {
			out = append(out, fmt.Sprintf("%s:%d%%:%d:%d:%d", short(s.GetStage()), s.GetProbabilityPercent(), s.GetCount(), fenOf(s.GetAmount()), fenOf(s.GetWeightedAmount())))
		}
		return strings.Join(out, " ")
	}
	p, err := c.GetPipeline(as(t, "executive"), &needsv1.GetPipelineRequest{GroupByOwner: true})
	if err != nil {
		t.Fatal(err)
	}
	// All: initial 0.10 yuan → 1 fen; proposal 123457 → 49383; quotation 33333 → 20000;
	// negotiation 100000001 (+ none) → 80000001; won 500099 → 500099; lost 9999 → 0.
	wantAll := "INITIAL:10%:3:10:1 CONFIRMED:20%:0:0:0 PROPOSAL:40%:1:123457:49383 QUOTATION:60%:1:33333:20000 " +
		"NEGOTIATION:80%:2:100000001:80000001 WON:100%:2:500099:500099 LOST:0%:1:9999:0"
	if got := rows(p.GetStages()); got != wantAll {
		t.Errorf("stages:\n%s\nwant\n%s", got, wantAll)
	}
	if p.GetOpenCount() != 7 || fenOf(p.GetOpenAmount()) != 10+123457+33333+100000001 || fenOf(p.GetWeightedForecast()) != 1+49383+20000+80000001+500099 {
		t.Errorf("totals: %d %d %d", p.GetOpenCount(), fenOf(p.GetOpenAmount()), fenOf(p.GetWeightedForecast()))
	}
	wantOwners := map[string]struct {
		stages   string
		open     int64
		amount   int64
		forecast int64
	}{
		"u-a": {"INITIAL:10%:2:9:1 CONFIRMED:20%:0:0:0 PROPOSAL:40%:1:123457:49383 QUOTATION:60%:0:0:0 NEGOTIATION:80%:0:0:0 WON:100%:0:0:0 LOST:0%:1:9999:0",
			3, 123466, 49384},
		"u-b": {"INITIAL:10%:1:1:0 CONFIRMED:20%:0:0:0 PROPOSAL:40%:0:0:0 QUOTATION:60%:1:33333:20000 NEGOTIATION:80%:1:100000001:80000001 WON:100%:1:500000:500000 LOST:0%:0:0:0",
			3, 100033335, 80520001},
		"u-c": {"INITIAL:10%:0:0:0 CONFIRMED:20%:0:0:0 PROPOSAL:40%:0:0:0 QUOTATION:60%:0:0:0 NEGOTIATION:80%:1:0:0 WON:100%:1:99:99 LOST:0%:0:0:0",
			1, 0, 99},
	}
	if len(p.GetOwners()) != 3 {
		t.Fatalf("owners: %v", p.GetOwners())
	}
	for i, o := range p.GetOwners() {
		if want := []string{"u-a", "u-b", "u-c"}[i]; o.GetOwnerId() != want {
			t.Fatalf("owner %d = %s, want %s", i, o.GetOwnerId(), want)
		}
		w := wantOwners[o.GetOwnerId()]
		if got := rows(o.GetStages()); got != w.stages {
			t.Errorf("%s stages:\n%s\nwant\n%s", o.GetOwnerId(), got, w.stages)
		}
		if o.GetOpenCount() != w.open || fenOf(o.GetOpenAmount()) != w.amount || fenOf(o.GetWeightedForecast()) != w.forecast {
			t.Errorf("%s totals: %d %d %d", o.GetOwnerId(), o.GetOpenCount(), fenOf(o.GetOpenAmount()), fenOf(o.GetWeightedForecast()))
		}
	}

	// Scoped: the east manager sees only custEast's needs; an owner filter narrows further.
	m, err := c.GetPipeline(as(t, "manager"), &needsv1.GetPipelineRequest{OwnerId: "u-b"})
	if err != nil || fenOf(m.GetWeightedForecast()) != 80520001 || len(m.GetOwners()) != 0 {
		t.Fatalf("manager, owner u-b: %v %v", m, err)
	}
	w, err := c.GetPipeline(as(t, "managerW"), &needsv1.GetPipelineRequest{})
	if err != nil || w.GetOpenCount() != 1 || fenOf(w.GetWeightedForecast()) != 99 {
		t.Fatalf("manager west: %v %v", w, err)
	}
	_, err = c.GetPipeline(admin, &needsv1.GetPipelineRequest{ExpectedCloseDateFrom: &date.Date{Year: 2027, Month: 1, Day: 1},
		ExpectedCloseDateTo: &date.Date{Year: 2026, Month: 1, Day: 1}})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("from after to: %v", err)
	}
	empty, err := c.GetPipeline(admin, &needsv1.GetPipelineRequest{ExpectedCloseDateFrom: &date.Date{Year: 2027, Month: 1, Day: 1}})
	if err != nil || empty.GetOpenCount() != 0 || len(empty.GetStages()) != 7 {
		t.Fatalf("close date after all needs: %v %v", empty, err)
	}
}

func TestListPagingAndFilters(t *testing.T) {
	t.Parallel()
	c, _ := start(t)
	for range 3 {
		create(t, c)
	}
	ctx := as(t, "admin")
	page, err := c.ListNeeds(ctx, &needsv1.ListNeedsRequest{PageSize: 2})
	if err != nil || len(page.GetNeeds()) != 2 || page.GetNextPageToken() == "" {
		t.Fatalf("first page: %v %v", page, err)
	}
	if _, err := c.ListNeeds(ctx, &needsv1.ListNeedsRequest{PageSize: 2, PageToken: page.GetNextPageToken(), OrderBy: "update_time"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("token reused with another order: %v", err)
	}
	if _, err := c.ListNeeds(as(t, "service"), &needsv1.ListNeedsRequest{PageSize: 2, PageToken: page.GetNextPageToken()}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("token reused by another caller: %v", err)
	}
	next, err := c.ListNeeds(ctx, &needsv1.ListNeedsRequest{PageSize: 2, PageToken: page.GetNextPageToken()})
	if err != nil || len(next.GetNeeds()) != 1 || next.GetNextPageToken() != "" {
		t.Fatalf("second page: %v %v", next, err)
	}
	for _, req := range []*needsv1.ListNeedsRequest{{PageSize: 500}, {Filter: "budget > 5"}, {OrderBy: "title"}} {
		if _, err := c.ListNeeds(ctx, req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%v: %v", req, err)
		}
	}
	got, err := c.ListNeeds(ctx, &needsv1.ListNeedsRequest{Filter: `stage = INITIAL AND expected_close_date <= "2026-12-31" AND type = NEED_TYPE_PROCUREMENT`})
	if err != nil || len(got.GetNeeds()) != 3 {
		t.Fatalf("filter: %v %v", got, err)
	}
	none, err := c.ListCustomerNeeds(ctx, &needsv1.ListCustomerNeedsRequest{CustomerId: custWest})
	if err != nil || len(none.GetNeeds()) != 0 {
		t.Fatalf("west customer's needs: %v %v", none, err)
	}
}

// TestOwnershipFollowsCustomerEvents moves a customer to another rep through a customer event on
// a real JetStream; the projection consumer applies it, and the need follows its customer.
func TestOwnershipFollowsCustomerEvents(t *testing.T) {
	t.Parallel()
	c, refs := start(t)
	n := create(t, c)
	if _, err := c.GetNeed(as(t, "sales2"), &needsv1.GetNeedRequest{NeedId: n.GetNeedId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("sales2 before the move: %v", err)
	}

	nc, js, _ := testkit.StartEventStream(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = refs.Consume(ctx, js, nc, "needs-customers", slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	t.Cleanup(func() { cancel(); <-done })

	moved := &customerv1.Customer{CustomerId: custEast, OwnerId: "u-sales2", TeamId: "east", Etag: "2"}
	ev, err := events.New(ctx, "customer", "customer", "updated", custEast, &commonv1.Actor{UserId: "u-admin", Role: "admin"}, 2, moved, nil)
	if err != nil {
		t.Fatal(err)
	}
	testkit.PublishEvent(t, js, ev)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.GetNeed(as(t, "sales2"), &needsv1.GetNeedRequest{NeedId: n.GetNeedId()})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sales2 still cannot see the moved customer's need: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := c.GetNeed(as(t, "sales1"), &needsv1.GetNeedRequest{NeedId: n.GetNeedId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("sales1 after the move: %v", err)
	}

	// A deleted customer's needs are gone for everyone but admins, and cannot be changed.
	gone := &customerv1.Customer{CustomerId: custEast, OwnerId: "u-sales2", TeamId: "east", Etag: "3", DeleteTime: timestamppb.Now()}
	ev, err = events.New(ctx, "customer", "customer", "deleted", custEast, &commonv1.Actor{UserId: "u-admin", Role: "admin"}, 3, gone, nil)
	if err != nil {
		t.Fatal(err)
	}
	testkit.PublishEvent(t, js, ev)
	deadline = time.Now().Add(10 * time.Second)
	for {
		_, err := c.GetNeed(as(t, "sales2"), &needsv1.GetNeedRequest{NeedId: n.GetNeedId()})
		if status.Code(err) == codes.NotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sales2 still sees the deleted customer's need: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := c.GetNeed(as(t, "admin"), &needsv1.GetNeedRequest{NeedId: n.GetNeedId()}); err != nil {
		t.Fatalf("admin: %v", err)
	}
	_, err = c.ChangeNeedStage(as(t, "admin"), &needsv1.ChangeNeedStageRequest{NeedId: n.GetNeedId(), Stage: needsv1.NeedStage_NEED_STAGE_CONFIRMED})
	if errorInfo(err).GetReason() != "CUSTOMER_DELETED" {
		t.Fatalf("stage change of a deleted customer's need: %v", err)
	}
	if _, err := c.ListCustomerNeeds(as(t, "sales2"), &needsv1.ListCustomerNeedsRequest{CustomerId: custEast}); status.Code(err) != codes.NotFound {
		t.Fatalf("deleted customer's list for sales2: %v", err)
	}
	if p, err := c.GetPipeline(as(t, "admin"), &needsv1.GetPipelineRequest{}); err != nil || p.GetOpenCount() != 0 {
		t.Fatalf("pipeline counts a deleted customer's need: %v %v", p, err)
	}
	if _, err := c.DeleteNeed(as(t, "admin"), &needsv1.DeleteNeedRequest{NeedId: n.GetNeedId()}); err != nil {
		t.Fatalf("admin deletes a deleted customer's need: %v", err)
	}
}
