package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/authz"
	"github.com/crmsuite/crm/pkg/grpcx"
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/testkit"
	auditv1 "github.com/crmsuite/crm/proto/gen/go/crm/audit/v1"
	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	"github.com/crmsuite/crm/services/customer/internal/server"
	"github.com/crmsuite/crm/services/customer/internal/store"
)

var secret = []byte("test-secret-test-secret-test-secret!")

// fakeAudit stands in for the audit service at the edge of these tests: it answers one entity's
// history and remembers the role it was asked with.
type fakeAudit struct {
	auditv1.UnimplementedAuditServiceServer
}

func (fakeAudit) ListAuditEvents(ctx context.Context, req *auditv1.ListAuditEventsRequest) (*auditv1.ListAuditEventsResponse, error) {
	p, _ := authn.FromContext(ctx)
	if !p.Has(authn.RoleSystem) {
		return nil, status.Error(codes.PermissionDenied, "system only")
	}
	return &auditv1.ListAuditEventsResponse{AuditEvents: []*auditv1.AuditEvent{{
		EventId: "e1", EventType: "customer.updated", EntityId: req.GetEntityId(),
		Changes: []*commonv1.FieldChange{{Field: "mobile", Before: structpb.NewStringValue("13812345678"), After: structpb.NewStringValue("13900001111")}},
	}}}, nil
}

type env struct {
	client customerv1.CustomerServiceClient
	st     *store.Store
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
		return authn.IssueHS256(secret, "crm-dev", "crm", authn.Principal{UserID: "customer", Roles: []authn.Role{authn.RoleSystem}}, time.Minute)
	}

	auditSrv, _ := grpcx.NewServer(grpcx.ServerConfig{Domain: "audit.crm", Verifier: verifier, Logger: log,
		Policy: authz.Policy{"/crm.audit.v1.AuditService/ListAuditEvents": {authn.RoleSystem: authz.ScopeAll}}})
	auditv1.RegisterAuditServiceServer(auditSrv, fakeAudit{})
	auditAddr := serve(t, auditSrv)
	auditConn, err := grpcx.Dial(auditAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { auditConn.Close() })

	st := store.New(pool, server.EventData)
	srv, _ := grpcx.NewServer(grpcx.ServerConfig{Domain: server.Domain, Verifier: verifier, Policy: server.Policy, Logger: log})
	customerv1.RegisterCustomerServiceServer(srv, server.New(st, auditv1.NewAuditServiceClient(auditConn), system, log))
	if missing := server.Policy.Uncovered(srv.GetServiceInfo()); len(missing) > 0 {
		t.Fatalf("RPCs without a permission: %v", missing)
	}
	conn, err := grpc.NewClient(serve(t, srv), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return env{client: customerv1.NewCustomerServiceClient(conn), st: st}
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

// users of the tests: two sales reps of team east, one of team west, and the other roles.
var users = map[string]authn.Principal{
	"admin":     {UserID: "u-admin", Team: "hq", Roles: []authn.Role{authn.RoleAdmin}},
	"manager":   {UserID: "u-manager", Team: "east", Roles: []authn.Role{authn.RoleManager}},
	"managerW":  {UserID: "u-manager-w", Team: "west", Roles: []authn.Role{authn.RoleManager}},
	"sales1":    {UserID: "u-sales1", Team: "east", Roles: []authn.Role{authn.RoleSales}},
	"sales2":    {UserID: "u-sales2", Team: "east", Roles: []authn.Role{authn.RoleSales}},
	"service":   {UserID: "u-service", Team: "support", Roles: []authn.Role{authn.RoleService}},
	"executive": {UserID: "u-exec", Team: "hq", Roles: []authn.Role{authn.RoleExecutive}},
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

var seq int

// input returns a valid new customer; each call differs in name and mobile.
func input() *customerv1.Customer {
	seq++
	return &customerv1.Customer{
		Name: fmt.Sprintf("苏州工业园区测试%03d有限公司", seq), Type: customerv1.CustomerType_CUSTOMER_TYPE_ENTERPRISE,
		Industry: "C39", ContactName: "陈静", Mobile: fmt.Sprintf("+86 137 %08d", seq),
		Address: &customerv1.Address{Province: "江苏", City: "苏州市"}, Scale: customerv1.Scale_SCALE_201_TO_500,
	}
}

// owned creates a customer owned by sales1 (team east) as the admin.
func owned(t *testing.T, e env) *customerv1.Customer {
	t.Helper()
	in := input()
	in.OwnerId, in.TeamId = "u-sales1", "east"
	c, err := e.client.CreateCustomer(as(t, "admin"), &customerv1.CreateCustomerRequest{Customer: in})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRoleMatrix(t *testing.T) {
	e := start(t)
	type call func(ctx context.Context, c *customerv1.Customer) error
	calls := map[string]call{
		"Create": func(ctx context.Context, _ *customerv1.Customer) error {
			_, err := e.client.CreateCustomer(ctx, &customerv1.CreateCustomerRequest{Customer: input()})
			return err
		},
		"Get": func(ctx context.Context, c *customerv1.Customer) error {
			_, err := e.client.GetCustomer(ctx, &customerv1.GetCustomerRequest{CustomerId: c.GetCustomerId()})
			return err
		},
		"UpdateRemarks": func(ctx context.Context, c *customerv1.Customer) error {
			_, err := e.client.UpdateCustomer(ctx, &customerv1.UpdateCustomerRequest{
				Customer:   &customerv1.Customer{CustomerId: c.GetCustomerId(), Remarks: "年底有采购计划"},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"remarks"}}})
			return err
		},
		"UpdateName": func(ctx context.Context, c *customerv1.Customer) error {
			_, err := e.client.UpdateCustomer(ctx, &customerv1.UpdateCustomerRequest{
				Customer:   &customerv1.Customer{CustomerId: c.GetCustomerId(), Name: c.GetName() + "（新）"},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name"}}})
			return err
		},
		"ChangeStatus": func(ctx context.Context, c *customerv1.Customer) error {
			_, err := e.client.ChangeCustomerStatus(ctx, &customerv1.ChangeCustomerStatusRequest{
				CustomerId: c.GetCustomerId(), Status: customerv1.CustomerStatus_CUSTOMER_STATUS_INTENTION})
			return err
		},
		"Delete": func(ctx context.Context, c *customerv1.Customer) error {
			_, err := e.client.DeleteCustomer(ctx, &customerv1.DeleteCustomerRequest{CustomerId: c.GetCustomerId(), Reason: "重复录入"})
			return err
		},
		"History": func(ctx context.Context, c *customerv1.Customer) error {
			_, err := e.client.ListCustomerHistory(ctx, &customerv1.ListCustomerHistoryRequest{CustomerId: c.GetCustomerId()})
			return err
		},
		"Industries": func(ctx context.Context, _ *customerv1.Customer) error {
			_, err := e.client.ListIndustries(ctx, &customerv1.ListIndustriesRequest{})
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
	// The customer under test is owned by sales1 of team east.
	matrix := map[string]map[string]codes.Code{
		"Create":        {"admin": ok, "manager": ok, "sales1": ok, "service": denied, "executive": denied, "": anon},
		"Get":           {"admin": ok, "manager": ok, "managerW": hidden, "sales1": ok, "sales2": hidden, "service": ok, "executive": ok, "": anon},
		"UpdateRemarks": {"admin": ok, "manager": ok, "managerW": hidden, "sales1": ok, "sales2": hidden, "service": ok, "executive": denied},
		"UpdateName":    {"admin": ok, "manager": bad, "sales1": bad, "service": bad, "executive": denied},
		"ChangeStatus":  {"admin": ok, "manager": ok, "managerW": hidden, "sales1": ok, "sales2": hidden, "service": denied, "executive": denied},
		"Delete":        {"admin": ok, "manager": denied, "sales1": denied, "service": denied, "executive": denied},
		"History":       {"admin": ok, "manager": ok, "managerW": hidden, "sales1": ok, "sales2": hidden, "service": ok, "executive": ok},
		"Industries":    {"admin": ok, "manager": ok, "sales1": ok, "service": ok, "executive": ok, "": anon},
	}
	for rpc, byUser := range matrix {
		for user, want := range byUser {
			t.Run(rpc+"/"+user, func(t *testing.T) {
				err := calls[rpc](as(t, user), owned(t, e))
				if got := status.Code(err); got != want {
					t.Fatalf("%s as %q: %v, want %v", rpc, user, err, want)
				}
			})
		}
	}
}

func TestListIsScopedByRole(t *testing.T) {
	e := start(t)
	mine := owned(t, e)
	west := input()
	west.OwnerId, west.TeamId = "u-sales9", "west"
	if _, err := e.client.CreateCustomer(as(t, "admin"), &customerv1.CreateCustomerRequest{Customer: west}); err != nil {
		t.Fatal(err)
	}
	count := func(user string) int {
		resp, err := e.client.ListCustomers(as(t, user), &customerv1.ListCustomersRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.GetCustomers())
	}
	for user, want := range map[string]int{"admin": 2, "manager": 1, "managerW": 1, "sales1": 1, "sales2": 0, "service": 2, "executive": 2} {
		if got := count(user); got != want {
			t.Errorf("%s sees %d customers, want %d", user, got, want)
		}
	}
	found, err := e.client.SearchCustomers(as(t, "sales2"), &customerv1.SearchCustomersRequest{Query: mine.GetName()[:12]})
	if err != nil || len(found.GetCustomers()) != 0 {
		t.Fatalf("sales2 finds another rep's customer: %v %v", found, err)
	}
	// Executives see masked personal data, in lists and in history.
	got, err := e.client.GetCustomer(as(t, "executive"), &customerv1.GetCustomerRequest{CustomerId: mine.GetCustomerId()})
	if err != nil || got.GetMobile() != "137****"+mine.GetMobile()[7:] || got.GetContactName() != "陈*" {
		t.Fatalf("executive sees %q %q (%v)", got.GetMobile(), got.GetContactName(), err)
	}
	h, err := e.client.ListCustomerHistory(as(t, "executive"), &customerv1.ListCustomerHistoryRequest{CustomerId: mine.GetCustomerId()})
	if err != nil || h.GetEntries()[0].GetChanges()[0].GetAfter().GetStringValue() != "139****1111" {
		t.Fatalf("executive history = %v %v", h, err)
	}
}

func TestCreateValidationErrorsInBothLanguages(t *testing.T) {
	e := start(t)
	in := input()
	in.Mobile, in.Name, in.Uscc, in.Industry = "12345", "未知", "91440300192176077Q", ""
	for lang, want := range map[string]string{"": "联系方式格式错误，需为11位有效手机号", "en": "invalid mobile number"} {
		ctx := as(t, "sales1")
		if lang != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "accept-language", lang)
		}
		_, err := e.client.CreateCustomer(ctx, &customerv1.CreateCustomerRequest{Customer: in})
		st := status.Convert(err)
		if st.Code() != codes.InvalidArgument {
			t.Fatalf("code = %v", st.Code())
		}
		fields := map[string]string{}
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok {
				for _, v := range br.GetFieldViolations() {
					fields[v.GetField()] = v.GetDescription()
				}
			}
		}
		for _, f := range []string{"name", "mobile", "uscc", "industry"} {
			if fields[f] == "" {
				t.Errorf("lang %q: no violation for %s in %v", lang, f, fields)
			}
		}
		if !strings.Contains(fields["mobile"], want) {
			t.Errorf("lang %q: mobile message %q, want %q", lang, fields["mobile"], want)
		}
	}
}

func TestDuplicateAndIdempotentCreate(t *testing.T) {
	e := start(t)
	ctx := as(t, "sales1")
	in := input()
	first, err := e.client.CreateCustomer(ctx, &customerv1.CreateCustomerRequest{Customer: in, RequestId: "r-1"})
	if err != nil {
		t.Fatal(err)
	}
	if first.GetOwnerId() != "u-sales1" || first.GetTeamId() != "east" || first.GetStatus() != customerv1.CustomerStatus_CUSTOMER_STATUS_POTENTIAL || first.GetMobile()[0] != '1' {
		t.Fatalf("defaults not applied: %v", first)
	}
	again, err := e.client.CreateCustomer(ctx, &customerv1.CreateCustomerRequest{Customer: in, RequestId: "r-1"})
	if err != nil || again.GetCustomerId() != first.GetCustomerId() {
		t.Fatalf("retry created another: %v %v", again, err)
	}
	_, err = e.client.CreateCustomer(ctx, &customerv1.CreateCustomerRequest{Customer: in})
	st := status.Convert(err)
	if st.Code() != codes.AlreadyExists {
		t.Fatalf("duplicate: %v", err)
	}
	var cands *customerv1.DuplicateCandidates
	var info *errdetails.ErrorInfo
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *customerv1.DuplicateCandidates:
			cands = d
		case *errdetails.ErrorInfo:
			info = d
		}
	}
	if info.GetReason() != "POSSIBLE_DUPLICATE" || info.GetDomain() != "customer.crm" || len(cands.GetCandidates()) != 1 ||
		cands.GetCandidates()[0].GetCustomerId() != first.GetCustomerId() {
		t.Fatalf("details: %v %v", info, cands)
	}
}

func TestUpdateEtagAndStatus(t *testing.T) {
	e := start(t)
	c := owned(t, e)
	ctx := as(t, "sales1")
	upd := func(etag string) error {
		_, err := e.client.UpdateCustomer(ctx, &customerv1.UpdateCustomerRequest{
			Customer:   &customerv1.Customer{CustomerId: c.GetCustomerId(), Etag: etag, Email: "chen@example.com"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"email"}}})
		return err
	}
	if err := upd(c.GetEtag()); err != nil {
		t.Fatal(err)
	}
	if err := upd(c.GetEtag()); status.Code(err) != codes.Aborted {
		t.Fatalf("stale etag: %v", err)
	}
	_, err := e.client.ChangeCustomerStatus(ctx, &customerv1.ChangeCustomerStatusRequest{CustomerId: c.GetCustomerId(),
		Status: customerv1.CustomerStatus_CUSTOMER_STATUS_PAUSED})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("potential → paused: %v", err)
	}
	var info *errdetails.ErrorInfo
	for _, d := range status.Convert(err).Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok {
			info = i
		}
	}
	if info.GetReason() != "ILLEGAL_STATUS_TRANSITION" || info.GetMetadata()["allowed"] == "" {
		t.Fatalf("transition error info: %v", info)
	}
	got, err := e.client.ChangeCustomerStatus(ctx, &customerv1.ChangeCustomerStatusRequest{CustomerId: c.GetCustomerId(),
		Status: customerv1.CustomerStatus_CUSTOMER_STATUS_INTENTION})
	if err != nil || got.GetStatusChangedBy() != "u-sales1" || got.GetStatus() != customerv1.CustomerStatus_CUSTOMER_STATUS_INTENTION {
		t.Fatalf("intention: %v %v", got, err)
	}
}

func TestPageTokenBoundToQuery(t *testing.T) {
	e := start(t)
	for range 3 {
		owned(t, e)
	}
	ctx := as(t, "admin")
	page, err := e.client.ListCustomers(ctx, &customerv1.ListCustomersRequest{PageSize: 2})
	if err != nil || page.GetNextPageToken() == "" {
		t.Fatalf("first page: %v %v", page, err)
	}
	_, err = e.client.ListCustomers(ctx, &customerv1.ListCustomersRequest{PageSize: 2, PageToken: page.GetNextPageToken(), OrderBy: "name"})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("token reused with another order: %v", err)
	}
	next, err := e.client.ListCustomers(ctx, &customerv1.ListCustomersRequest{PageSize: 2, PageToken: page.GetNextPageToken()})
	if err != nil || len(next.GetCustomers()) != 1 || next.GetNextPageToken() != "" {
		t.Fatalf("second page: %v %v", next, err)
	}
	if _, err := e.client.ListCustomers(ctx, &customerv1.ListCustomersRequest{PageSize: 500}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("page_size 500: %v", err)
	}
	if errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}
