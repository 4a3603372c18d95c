package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/authz"
	"github.com/crmsuite/crm/pkg/customerref"
	"github.com/crmsuite/crm/pkg/export"
	"github.com/crmsuite/crm/pkg/grpcx"
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/testkit"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	feedbackv1 "github.com/crmsuite/crm/proto/gen/go/crm/feedback/v1"
	"github.com/crmsuite/crm/services/feedback/internal/server"
	"github.com/crmsuite/crm/services/feedback/internal/store"
)

var secret = []byte("test-secret-test-secret-test-secret!")

// Customers known to the fake customer service.
const (
	custSales1  = "CUST-20261101-0001" // owned by sales1, team east
	custSales2  = "CUST-20261101-0002" // owned by sales2, team east
	custWest    = "CUST-20261101-0003" // owned by sales9, team west
	custDeleted = "CUST-20261101-0004" // deleted, was sales1's
	custMerged  = "CUST-20261101-0005" // merged into custSales1
)

// fakeCustomers stands in for the customer service at the edge of these tests: it answers
// GetCustomer for a few customers, and only to the system token.
type fakeCustomers struct {
	customerv1.UnimplementedCustomerServiceServer
}

func (fakeCustomers) GetCustomer(ctx context.Context, req *customerv1.GetCustomerRequest) (*customerv1.Customer, error) {
	if p, _ := authn.FromContext(ctx); !p.Has(authn.RoleSystem) {
		return nil, status.Error(codes.PermissionDenied, "system only")
	}
	c := map[string]*customerv1.Customer{
		custSales1:  {OwnerId: "u-sales1", TeamId: "east"},
		custSales2:  {OwnerId: "u-sales2", TeamId: "east"},
		custWest:    {OwnerId: "u-sales9", TeamId: "west"},
		custDeleted: {OwnerId: "u-sales1", TeamId: "east", DeleteTime: timestamppb.Now()},
		custMerged:  {OwnerId: "u-sales1", TeamId: "east", MergedInto: custSales1},
	}[req.GetCustomerId()]
	if c == nil {
		return nil, status.Error(codes.NotFound, "no such customer")
	}
	c.CustomerId, c.Etag = req.GetCustomerId(), "1"
	return c, nil
}

// t0 is 2026-11-23 09:00 China time.
var t0 = time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)

// clock is the test clock of the store and server; the server reads it from its goroutines.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t0.Add(d)
}

type env struct {
	client feedbackv1.FeedbackServiceClient
	pool   *pgxpool.Pool
	clock  *clock
	refs   *customerref.Projection
}

// start runs the feedback service, with complaintSLA, against a fresh database and the fake
// customer service.
func start(t *testing.T, complaintSLA time.Duration) env {
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

	custSrv, _ := grpcx.NewServer(grpcx.ServerConfig{Domain: "customer.crm", Verifier: verifier, Logger: log,
		Policy: authz.Policy{"/crm.customer.v1.CustomerService/GetCustomer": {authn.RoleSystem: authz.ScopeAll},
			"/crm.customer.v1.CustomerTransferService/StreamCustomerRefs": export.Exporters}})
	customerv1.RegisterCustomerServiceServer(custSrv, fakeCustomers{})
	customerv1.RegisterCustomerTransferServiceServer(custSrv, &testkit.CustomerRefs{Verifier: verifier, Customers: []*customerv1.Customer{
		{CustomerId: custSales1, Name: "杭州甲科技有限公司", OwnerId: "u-sales1", TeamId: "east"},
		{CustomerId: custWest, Name: "成都乙贸易有限公司", OwnerId: "u-sales9", TeamId: "west"},
	}})
	custConn, err := grpcx.Dial(serve(t, custSrv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { custConn.Close() })
	system := func() (string, error) {
		return authn.IssueHS256(secret, "crm-dev", "crm", authn.Principal{UserID: "service:feedback", Roles: []authn.Role{authn.RoleSystem}}, time.Minute)
	}
	refs := customerref.New(pool, customerv1.NewCustomerServiceClient(custConn), system)

	c := &clock{t: t0}
	st := store.New(pool, server.EventData)
	st.SetClock(c.now)
	srv, _ := grpcx.NewServer(grpcx.ServerConfig{Domain: server.Domain, Verifier: verifier, Policy: server.Policy, Logger: log})
	exporter := &export.Exporter{Pool: pool, Customers: customerv1.NewCustomerTransferServiceClient(custConn), Log: log}
	feedbackv1.RegisterFeedbackServiceServer(srv, server.New(st, refs, exporter, complaintSLA))
	if missing := server.Policy.Uncovered(srv.GetServiceInfo()); len(missing) > 0 {
		t.Fatalf("RPCs without a permission: %v", missing)
	}
	conn, err := grpc.NewClient(serve(t, srv), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return env{client: feedbackv1.NewFeedbackServiceClient(conn), pool: pool, clock: c, refs: refs}
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

// users of the tests: two sales reps and a manager of team east, a manager of team west, and the
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

func complaint() *feedbackv1.Feedback {
	return &feedbackv1.Feedback{Type: feedbackv1.FeedbackType_FEEDBACK_TYPE_COMPLAINT, Content: "设备安装后无法开机，三天无人上门",
		Channel: feedbackv1.FeedbackChannel_FEEDBACK_CHANNEL_PHONE}
}

// recorded creates a complaint about sales1's customer as the admin.
func recorded(t *testing.T, e env) *feedbackv1.Feedback {
	t.Helper()
	f, err := e.client.CreateFeedback(as(t, "admin"), &feedbackv1.CreateFeedbackRequest{CustomerId: custSales1, Feedback: complaint()})
	if err != nil {
		t.Fatal(err)
	}
	return f
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
	e := start(t, 0)
	type call func(ctx context.Context, f *feedbackv1.Feedback) error
	calls := map[string]call{
		"Create": func(ctx context.Context, _ *feedbackv1.Feedback) error {
			_, err := e.client.CreateFeedback(ctx, &feedbackv1.CreateFeedbackRequest{CustomerId: custSales1, Feedback: complaint()})
			return err
		},
		"Get": func(ctx context.Context, f *feedbackv1.Feedback) error {
			_, err := e.client.GetFeedback(ctx, &feedbackv1.GetFeedbackRequest{FeedbackId: f.GetFeedbackId()})
			return err
		},
		"List": func(ctx context.Context, _ *feedbackv1.Feedback) error {
			_, err := e.client.ListFeedback(ctx, &feedbackv1.ListFeedbackRequest{})
			return err
		},
		"ListCustomer": func(ctx context.Context, f *feedbackv1.Feedback) error {
			_, err := e.client.ListCustomerFeedback(ctx, &feedbackv1.ListCustomerFeedbackRequest{CustomerId: f.GetCustomerId()})
			return err
		},
		"Overdue": func(ctx context.Context, _ *feedbackv1.Feedback) error {
			_, err := e.client.ListOverdueFeedback(ctx, &feedbackv1.ListOverdueFeedbackRequest{})
			return err
		},
		"Update": func(ctx context.Context, f *feedbackv1.Feedback) error {
			_, err := e.client.UpdateFeedback(ctx, &feedbackv1.UpdateFeedbackRequest{
				Feedback:   &feedbackv1.Feedback{FeedbackId: f.GetFeedbackId(), Plan: "安排工程师明日上门"},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"plan"}}})
			return err
		},
		"Assign": func(ctx context.Context, f *feedbackv1.Feedback) error {
			_, err := e.client.AssignFeedback(ctx, &feedbackv1.AssignFeedbackRequest{FeedbackId: f.GetFeedbackId(), HandlerId: "u-service"})
			return err
		},
		"ChangeStatus": func(ctx context.Context, f *feedbackv1.Feedback) error {
			_, err := e.client.ChangeFeedbackStatus(ctx, &feedbackv1.ChangeFeedbackStatusRequest{
				FeedbackId: f.GetFeedbackId(), Status: feedbackv1.FeedbackStatus_FEEDBACK_STATUS_IN_PROGRESS})
			return err
		},
		"Delete": func(ctx context.Context, f *feedbackv1.Feedback) error {
			_, err := e.client.DeleteFeedback(ctx, &feedbackv1.DeleteFeedbackRequest{FeedbackId: f.GetFeedbackId(), Reason: "重复录入"})
			return err
		},
	}
	const (
		ok     = codes.OK
		denied = codes.PermissionDenied
		hidden = codes.NotFound
		anon   = codes.Unauthenticated
	)
	// The feedback under test is about sales1's customer (team east).
	readers := map[string]codes.Code{"admin": ok, "manager": ok, "managerW": hidden, "sales1": ok, "sales2": hidden,
		"service": ok, "executive": ok, "system": ok, "": anon}
	lists := map[string]codes.Code{"admin": ok, "manager": ok, "managerW": ok, "sales1": ok, "sales2": ok,
		"service": ok, "executive": ok, "system": ok, "": anon}
	writers := map[string]codes.Code{"admin": ok, "manager": ok, "managerW": hidden, "sales1": ok, "sales2": hidden,
		"service": ok, "executive": denied, "system": denied, "": anon}
	handlers := map[string]codes.Code{"admin": ok, "manager": ok, "managerW": hidden, "sales1": denied, "sales2": denied,
		"service": ok, "executive": denied, "system": denied, "": anon}
	matrix := map[string]map[string]codes.Code{
		"Create": writers, "Get": readers, "ListCustomer": readers, "List": lists, "Overdue": lists,
		"Update": writers, "Assign": handlers, "ChangeStatus": handlers,
		"Delete": {"admin": ok, "manager": denied, "managerW": denied, "sales1": denied, "sales2": denied,
			"service": denied, "executive": denied, "system": denied, "": anon},
	}
	for rpc, byUser := range matrix {
		for user, want := range byUser {
			t.Run(rpc+"/"+user, func(t *testing.T) {
				err := calls[rpc](as(t, user), recorded(t, e))
				if got := status.Code(err); got != want {
					t.Fatalf("%s as %q: %v, want %v", rpc, user, err, want)
				}
			})
		}
	}
}

func TestListIsScopedByRole(t *testing.T) {
	t.Parallel()
	e := start(t, 0)
	for _, cust := range []string{custSales1, custSales2, custWest} {
		if _, err := e.client.CreateFeedback(as(t, "service"), &feedbackv1.CreateFeedbackRequest{CustomerId: cust, Feedback: complaint()}); err != nil {
			t.Fatal(err)
		}
	}
	for user, want := range map[string]int{"admin": 3, "manager": 2, "managerW": 1, "sales1": 1, "sales2": 1, "service": 3, "executive": 3, "system": 3} {
		resp, err := e.client.ListFeedback(as(t, user), &feedbackv1.ListFeedbackRequest{})
		if err != nil || len(resp.GetFeedback()) != want {
			t.Errorf("%s sees %d feedback (%v), want %d", user, len(resp.GetFeedback()), err, want)
		}
	}
	// Sales reps and managers do not learn whether another's customer exists.
	for _, user := range []string{"sales2", "managerW"} {
		_, err := e.client.ListCustomerFeedback(as(t, user), &feedbackv1.ListCustomerFeedbackRequest{CustomerId: custSales1})
		if status.Code(err) != codes.NotFound || errorInfo(err).GetReason() != "CUSTOMER_NOT_FOUND" {
			t.Errorf("%s lists sales1's customer: %v", user, err)
		}
	}
	resp, err := e.client.ListCustomerFeedback(as(t, "sales1"), &feedbackv1.ListCustomerFeedbackRequest{CustomerId: strings.ToLower(custSales1)})
	if err != nil || len(resp.GetFeedback()) != 1 || resp.GetFeedback()[0].GetOwnerId() != "u-sales1" {
		t.Fatalf("sales1's customer: %v %v", resp, err)
	}
}

func TestCreateChecksTheCustomer(t *testing.T) {
	t.Parallel()
	e := start(t, 0)
	tests := []struct {
		name     string
		user     string
		customer string
		code     codes.Code
		reason   string
	}{
		{"unknown customer", "admin", "CUST-20261101-9999", codes.NotFound, "CUSTOMER_NOT_FOUND"},
		{"another rep's customer", "sales2", custSales1, codes.NotFound, "CUSTOMER_NOT_FOUND"},
		{"another team's customer", "managerW", custSales1, codes.NotFound, "CUSTOMER_NOT_FOUND"},
		{"deleted customer", "admin", custDeleted, codes.FailedPrecondition, "CUSTOMER_DELETED"},
		{"merged customer", "sales1", custMerged, codes.FailedPrecondition, "CUSTOMER_MERGED"},
		{"not a customer id", "admin", "S20261123001", codes.InvalidArgument, "INVALID_ARGUMENT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.client.CreateFeedback(as(t, tc.user), &feedbackv1.CreateFeedbackRequest{CustomerId: tc.customer, Feedback: complaint()})
			if status.Code(err) != tc.code || errorInfo(err).GetReason() != tc.reason || errorInfo(err).GetDomain() != "feedback.crm" {
				t.Fatalf("%v (info %v), want %v %s", err, errorInfo(err), tc.code, tc.reason)
			}
		})
	}
	var n int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM feedback`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows = %d, %v", n, err)
	}
}

func TestValidationErrorsInBothLanguages(t *testing.T) {
	t.Parallel()
	e := start(t, 0)
	in := &feedbackv1.Feedback{CustomerId: custSales2, Content: "   ", Channel: feedbackv1.FeedbackChannel(42), Satisfaction: 5,
		Plan: strings.Repeat("方", 2001)}
	for lang, want := range map[string]string{"": "反馈内容不能为空", "en": "Content is required"} {
		ctx := as(t, "service")
		if lang != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "accept-language", lang)
		}
		_, err := e.client.CreateFeedback(ctx, &feedbackv1.CreateFeedbackRequest{CustomerId: custSales1, Feedback: in})
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
		for _, f := range []string{"customer_id", "type", "content", "channel", "satisfaction", "plan"} {
			if fields[f] == "" {
				t.Errorf("lang %q: no violation for %s in %v", lang, f, fields)
			}
		}
		if fields["content"] != want {
			t.Errorf("lang %q: content message %q, want %q", lang, fields["content"], want)
		}
	}
}

func TestIdempotentCreate(t *testing.T) {
	t.Parallel()
	e := start(t, 0)
	ctx := as(t, "sales1")
	req := &feedbackv1.CreateFeedbackRequest{CustomerId: custSales1, Feedback: complaint(), RequestId: "r-1"}
	first, err := e.client.CreateFeedback(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if first.GetStatus() != feedbackv1.FeedbackStatus_FEEDBACK_STATUS_PENDING || first.GetCreatedBy() != "u-sales1" ||
		first.GetOwnerId() != "u-sales1" || first.GetTeamId() != "east" || first.GetEtag() != "1" || first.GetCustomerId() != custSales1 {
		t.Fatalf("created %v", first)
	}
	again, err := e.client.CreateFeedback(ctx, req)
	if err != nil || again.GetFeedbackId() != first.GetFeedbackId() {
		t.Fatalf("retry created another: %v %v", again, err)
	}
	other := complaint()
	other.Content = "另一条投诉"
	_, err = e.client.CreateFeedback(ctx, &feedbackv1.CreateFeedbackRequest{CustomerId: custSales1, Feedback: other, RequestId: "r-1"})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "request_id") {
		t.Fatalf("reused request id: %v", err)
	}
	var n int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM feedback`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows = %d, %v", n, err)
	}
}

func TestEtagConflict(t *testing.T) {
	t.Parallel()
	e := start(t, 0)
	f := recorded(t, e)
	ctx := as(t, "service")
	upd := func(etag string) (*feedbackv1.Feedback, error) {
		return e.client.UpdateFeedback(ctx, &feedbackv1.UpdateFeedbackRequest{
			Feedback:   &feedbackv1.Feedback{FeedbackId: f.GetFeedbackId(), Etag: etag, Channel: feedbackv1.FeedbackChannel_FEEDBACK_CHANNEL_EMAIL},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"channel"}}})
	}
	got, err := upd(`W/"` + f.GetEtag() + `"`)
	if err != nil || got.GetEtag() != "2" || got.GetChannel() != feedbackv1.FeedbackChannel_FEEDBACK_CHANNEL_EMAIL {
		t.Fatalf("update: %v %v", got, err)
	}
	if _, err := upd(f.GetEtag()); status.Code(err) != codes.Aborted || errorInfo(err).GetReason() != "ETAG_MISMATCH" {
		t.Fatalf("stale update: %v", err)
	}
	for name, call := range map[string]func() error{
		"assign": func() error {
			_, err := e.client.AssignFeedback(ctx, &feedbackv1.AssignFeedbackRequest{FeedbackId: f.GetFeedbackId(), HandlerId: "u-x", Etag: "1"})
			return err
		},
		"changeStatus": func() error {
			_, err := e.client.ChangeFeedbackStatus(ctx, &feedbackv1.ChangeFeedbackStatusRequest{FeedbackId: f.GetFeedbackId(),
				Status: feedbackv1.FeedbackStatus_FEEDBACK_STATUS_IN_PROGRESS, Etag: "1"})
			return err
		},
		"delete": func() error {
			_, err := e.client.DeleteFeedback(as(t, "admin"), &feedbackv1.DeleteFeedbackRequest{FeedbackId: f.GetFeedbackId(), Reason: "x", Etag: "1"})
			return err
		},
	} {
		if err := call(); status.Code(err) != codes.Aborted {
			t.Errorf("stale %s: %v", name, err)
		}
	}
	if _, err := upd("abc"); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad etag: %v", err)
	}
}

// TestComplaintLifecycleAndSLA walks a complaint from recording to closing with a fixed clock and
// a 4-hour SLA: on track, overdue (listed), answered late (breached), resolved, rated, closed.
func TestComplaintLifecycleAndSLA(t *testing.T) {
	t.Parallel()
	e := start(t, 4*time.Hour)
	ctx := as(t, "service")
	f, err := e.client.CreateFeedback(ctx, &feedbackv1.CreateFeedbackRequest{CustomerId: custSales1, Feedback: complaint()})
	if err != nil {
		t.Fatal(err)
	}
	if !f.GetResponseDeadline().AsTime().Equal(t0.Add(4*time.Hour)) || f.GetOverdue() || f.GetSlaStatus() != feedbackv1.SlaStatus_SLA_STATUS_ON_TRACK {
		t.Fatalf("new complaint: deadline %v overdue %v sla %v", f.GetResponseDeadline().AsTime(), f.GetOverdue(), f.GetSlaStatus())
	}
	praise, err := e.client.CreateFeedback(ctx, &feedbackv1.CreateFeedbackRequest{CustomerId: custSales1, Feedback: &feedbackv1.Feedback{
		Type: feedbackv1.FeedbackType_FEEDBACK_TYPE_PRAISE, Content: "工程师服务很专业", Channel: feedbackv1.FeedbackChannel_FEEDBACK_CHANNEL_SURVEY}})
	if err != nil || praise.GetResponseDeadline() != nil || praise.GetSlaStatus() != feedbackv1.SlaStatus_SLA_STATUS_UNSPECIFIED {
		t.Fatalf("praise: %v %v", praise, err)
	}
	id := f.GetFeedbackId()
	change := func(to feedbackv1.FeedbackStatus, reason, plan, result string) (*feedbackv1.Feedback, error) {
		return e.client.ChangeFeedbackStatus(ctx, &feedbackv1.ChangeFeedbackStatusRequest{FeedbackId: id, Status: to, Reason: reason, Plan: plan, Result: result})
	}
	overdueIDs := func() []string {
		t.Helper()
		resp, err := e.client.ListOverdueFeedback(as(t, "manager"), &feedbackv1.ListOverdueFeedbackRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, x := range resp.GetFeedback() {
			out = append(out, x.GetFeedbackId())
		}
		return out
	}

	// A pending complaint cannot be closed without handling.
	if _, err := change(feedbackv1.FeedbackStatus_FEEDBACK_STATUS_CLOSED, "无效投诉", "", ""); status.Code(err) != codes.FailedPrecondition ||
		errorInfo(err).GetReason() != "ILLEGAL_STATUS_TRANSITION" || errorInfo(err).GetMetadata()["allowed"] != "in_progress" {
		t.Fatalf("close pending complaint: %v %v", err, errorInfo(err))
	}

	e.clock.set(5 * time.Hour)
	got, err := e.client.GetFeedback(ctx, &feedbackv1.GetFeedbackRequest{FeedbackId: id})
	if err != nil || !got.GetOverdue() || got.GetSlaStatus() != feedbackv1.SlaStatus_SLA_STATUS_OVERDUE {
		t.Fatalf("after 5h: %v %v", got, err)
	}
	if ids := overdueIDs(); len(ids) != 1 || ids[0] != id {
		t.Fatalf("overdue list = %v", ids)
	}
	filtered, err := e.client.ListFeedback(ctx, &feedbackv1.ListFeedbackRequest{Filter: "overdue = true"})
	if err != nil || len(filtered.GetFeedback()) != 1 || filtered.GetFeedback()[0].GetFeedbackId() != id {
		t.Fatalf("overdue filter: %v %v", filtered, err)
	}

	if got, err = e.client.AssignFeedback(as(t, "manager"), &feedbackv1.AssignFeedbackRequest{FeedbackId: id, HandlerId: "u-agent7"}); err != nil ||
		got.GetHandlerId() != "u-agent7" || got.GetStatus() != feedbackv1.FeedbackStatus_FEEDBACK_STATUS_PENDING {
		t.Fatalf("assign: %v %v", got, err)
	}
	e.clock.set(6 * time.Hour)
	got, err = change(feedbackv1.FeedbackStatus_FEEDBACK_STATUS_IN_PROGRESS, "", "", "")
	if err != nil || !got.GetFirstResponseTime().AsTime().Equal(t0.Add(6*time.Hour)) || got.GetHandlerId() != "u-agent7" ||
		!got.GetOverdue() || got.GetSlaStatus() != feedbackv1.SlaStatus_SLA_STATUS_BREACHED {
		t.Fatalf("start late: %v %v", got, err)
	}
	if ids := overdueIDs(); len(ids) != 0 {
		t.Fatalf("answered complaint still in the overdue queue: %v", ids)
	}

	// Resolving needs a plan and a result; they may come with the change.
	if _, err := change(feedbackv1.FeedbackStatus_FEEDBACK_STATUS_RESOLVED, "", "", ""); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("resolve without result: %v", err)
	}
	if _, err := e.client.UpdateFeedback(ctx, &feedbackv1.UpdateFeedbackRequest{Feedback: &feedbackv1.Feedback{FeedbackId: id, Satisfaction: 5},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"satisfaction"}}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("rating in progress: %v", err)
	}
	e.clock.set(8 * time.Hour)
	got, err = change(feedbackv1.FeedbackStatus_FEEDBACK_STATUS_RESOLVED, "", "上门更换主板", "已更换主板，设备恢复正常")
	if err != nil || got.GetStatus() != feedbackv1.FeedbackStatus_FEEDBACK_STATUS_RESOLVED || !got.GetResolveTime().AsTime().Equal(t0.Add(8*time.Hour)) ||
		got.GetPlan() != "上门更换主板" {
		t.Fatalf("resolve: %v %v", got, err)
	}
	got, err = e.client.UpdateFeedback(ctx, &feedbackv1.UpdateFeedbackRequest{Feedback: &feedbackv1.Feedback{FeedbackId: id, Satisfaction: 4},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"satisfaction"}}})
	if err != nil || got.GetSatisfaction() != 4 {
		t.Fatalf("rate: %v %v", got, err)
	}
	got, err = change(feedbackv1.FeedbackStatus_FEEDBACK_STATUS_CLOSED, "", "", "")
	if err != nil || !got.GetCloseTime().AsTime().Equal(t0.Add(8*time.Hour)) {
		t.Fatalf("close: %v %v", got, err)
	}

	// Closed is final: no transitions, no edits but the satisfaction.
	if _, err := change(feedbackv1.FeedbackStatus_FEEDBACK_STATUS_IN_PROGRESS, "客户再次来电", "", ""); status.Code(err) != codes.FailedPrecondition ||
		errorInfo(err).GetReason() != "ILLEGAL_STATUS_TRANSITION" {
		t.Fatalf("reopen closed: %v", err)
	}
	if _, err := e.client.UpdateFeedback(ctx, &feedbackv1.UpdateFeedbackRequest{Feedback: &feedbackv1.Feedback{FeedbackId: id, Content: "改"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"content"}}}); status.Code(err) != codes.FailedPrecondition || errorInfo(err).GetReason() != "FEEDBACK_CLOSED" {
		t.Fatalf("edit closed: %v", err)
	}
	if _, err := e.client.AssignFeedback(ctx, &feedbackv1.AssignFeedbackRequest{FeedbackId: id, HandlerId: "u-x"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("assign closed: %v", err)
	}
	if got, err = e.client.UpdateFeedback(ctx, &feedbackv1.UpdateFeedbackRequest{Feedback: &feedbackv1.Feedback{FeedbackId: id, Satisfaction: 5},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"satisfaction"}}}); err != nil || got.GetSatisfaction() != 5 {
		t.Fatalf("rate closed: %v %v", got, err)
	}

	// Praise can be closed unhandled, with a reason.
	if _, err := e.client.ChangeFeedbackStatus(ctx, &feedbackv1.ChangeFeedbackStatusRequest{FeedbackId: praise.GetFeedbackId(),
		Status: feedbackv1.FeedbackStatus_FEEDBACK_STATUS_CLOSED}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("close praise without reason: %v", err)
	}
	if got, err = e.client.ChangeFeedbackStatus(ctx, &feedbackv1.ChangeFeedbackStatusRequest{FeedbackId: praise.GetFeedbackId(),
		Status: feedbackv1.FeedbackStatus_FEEDBACK_STATUS_CLOSED, Reason: "表扬已转达，无需处理"}); err != nil || got.GetStatusReason() != "表扬已转达，无需处理" {
		t.Fatalf("close praise: %v %v", got, err)
	}

	// Every change is an event in the outbox, in order, of source feedback.
	rows, err := e.pool.Query(context.Background(), `SELECT subject FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		subjects = append(subjects, strings.TrimPrefix(s, "crm.feedback.feedback."))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := "created created assigned status_changed status_changed updated status_changed updated status_changed"
	if got := strings.Join(subjects, " "); got != want {
		t.Fatalf("events:\n got %s\nwant %s", got, want)
	}
}

func TestUpdateRules(t *testing.T) {
	t.Parallel()
	e := start(t, 0)
	f := recorded(t, e)
	ctx := as(t, "sales1")
	upd := func(in *feedbackv1.Feedback, paths ...string) (*feedbackv1.Feedback, error) {
		in.FeedbackId = f.GetFeedbackId()
		return e.client.UpdateFeedback(ctx, &feedbackv1.UpdateFeedbackRequest{Feedback: in, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
	}
	// A pending complaint turned into an inquiry loses its deadline.
	got, err := upd(&feedbackv1.Feedback{Type: feedbackv1.FeedbackType_FEEDBACK_TYPE_INQUIRY}, "type")
	if err != nil || got.GetType() != feedbackv1.FeedbackType_FEEDBACK_TYPE_INQUIRY || got.GetResponseDeadline() != nil {
		t.Fatalf("retype: %v %v", got, err)
	}
	for name, paths := range map[string][]string{"status": {"status"}, "handler": {"handler_id"}, "star": {"*"}, "none": nil, "unknown": {"owner_id"}} {
		if _, err := upd(&feedbackv1.Feedback{}, paths...); status.Code(err) != codes.InvalidArgument {
			t.Errorf("mask %s: %v", name, err)
		}
	}
	if _, err := upd(&feedbackv1.Feedback{Content: strings.Repeat("长", 5001)}, "content"); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("long content: %v", err)
	}
	if _, err := e.client.GetFeedback(ctx, &feedbackv1.GetFeedbackRequest{FeedbackId: "F20261123001"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("follow-up id as feedback id: %v", err)
	}
	if _, err := e.client.GetFeedback(ctx, &feedbackv1.GetFeedbackRequest{FeedbackId: "S20261123999"}); status.Code(err) != codes.NotFound ||
		errorInfo(err).GetReason() != "FEEDBACK_NOT_FOUND" {
		t.Fatalf("unknown id: %v", err)
	}
	// Deleted feedback is gone for everyone but admins.
	if _, err := e.client.DeleteFeedback(as(t, "admin"), &feedbackv1.DeleteFeedbackRequest{FeedbackId: f.GetFeedbackId()}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("delete without reason: %v", err)
	}
	del, err := e.client.DeleteFeedback(as(t, "admin"), &feedbackv1.DeleteFeedbackRequest{FeedbackId: f.GetFeedbackId(), Reason: "测试数据"})
	if err != nil || del.GetDeleteTime() == nil || del.GetDeletedBy() != "u-admin" {
		t.Fatalf("delete: %v %v", del, err)
	}
	if _, err := e.client.GetFeedback(ctx, &feedbackv1.GetFeedbackRequest{FeedbackId: f.GetFeedbackId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("sales1 gets deleted: %v", err)
	}
	if got, err := e.client.GetFeedback(as(t, "admin"), &feedbackv1.GetFeedbackRequest{FeedbackId: f.GetFeedbackId()}); err != nil || got.GetDeleteReason() != "测试数据" {
		t.Fatalf("admin gets deleted: %v %v", got, err)
	}
}

func TestPageTokenBoundToQuery(t *testing.T) {
	t.Parallel()
	e := start(t, 0)
	for range 3 {
		recorded(t, e)
	}
	ctx := as(t, "admin")
	page, err := e.client.ListFeedback(ctx, &feedbackv1.ListFeedbackRequest{PageSize: 2})
	if err != nil || len(page.GetFeedback()) != 2 || page.GetNextPageToken() == "" {
		t.Fatalf("first page: %v %v", page, err)
	}
	if _, err := e.client.ListFeedback(ctx, &feedbackv1.ListFeedbackRequest{PageSize: 2, PageToken: page.GetNextPageToken(), OrderBy: "update_time"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("token with another order: %v", err)
	}
	if _, err := e.client.ListFeedback(as(t, "service"), &feedbackv1.ListFeedbackRequest{PageSize: 2, PageToken: page.GetNextPageToken()}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("token of another caller: %v", err)
	}
	next, err := e.client.ListFeedback(ctx, &feedbackv1.ListFeedbackRequest{PageSize: 2, PageToken: page.GetNextPageToken()})
	if err != nil || len(next.GetFeedback()) != 1 || next.GetNextPageToken() != "" {
		t.Fatalf("second page: %v %v", next, err)
	}
	for _, req := range []*feedbackv1.ListFeedbackRequest{{PageSize: 500}, {Filter: "priority = high"}, {OrderBy: "name"}} {
		if _, err := e.client.ListFeedback(ctx, req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%v: %v", req, err)
		}
	}
}
