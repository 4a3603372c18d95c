package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/grpcx"
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/testkit"
	auditv1 "github.com/crmsuite/crm/proto/gen/go/crm/audit/v1"
	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/services/audit/internal/store"
)

var (
	testSecret = []byte("audit-server-test-secret-0123456789abcdef")
	testIssuer = "crm-test"
	testAud    = "crm"
)

// env is a running audit gRPC server on a fresh database.
type env struct {
	client auditv1.AuditServiceClient
	srv    *Server
	pool   *pgxpool.Pool
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	pool, err := pgdb.Connect(ctx, testkit.NewDatabase(t), store.Schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := store.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	verifier, err := authn.NewHS256Verifier(testSecret, testIssuer, testAud)
	if err != nil {
		t.Fatal(err)
	}
	log := testLogger(t)
	srv := New(store.New(pool), log)
	gs, _ := grpcx.NewServer(grpcx.ServerConfig{Domain: Domain, Verifier: verifier, Policy: Policy(), Logger: log})
	auditv1.RegisterAuditServiceServer(gs, srv)
	if missing := Policy().Uncovered(gs.GetServiceInfo()); len(missing) > 0 {
		t.Fatalf("RPCs without a permission decision: %v", missing)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- grpcx.ServeListener(serveCtx, gs, lis, log) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &env{client: auditv1.NewAuditServiceClient(conn), srv: srv, pool: pool}
}

// as returns a context calling with a token of the given roles; no roles means no token.
func as(t *testing.T, roles ...authn.Role) context.Context {
	t.Helper()
	if len(roles) == 0 {
		return t.Context()
	}
	tok, err := authn.IssueHS256(testSecret, testIssuer, testAud,
		authn.Principal{UserID: "u-" + string(roles[0]), Team: "east", Roles: roles}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
}

// record feeds one event through the intake, as the consumer would.
func (e *env) record(t *testing.T, entityID, actorID, eventType string, at time.Time, changes ...*commonv1.FieldChange) *eventsv1.Event {
	t.Helper()
	entity, _, _ := strings.Cut(eventType, ".")
	ev := &eventsv1.Event{
		Id:          uuid.Must(uuid.NewV7()).String(),
		Type:        eventType,
		Source:      entity,
		EntityType:  entity,
		Subject:     entityID,
		Time:        timestamppb.New(at),
		Actor:       &commonv1.Actor{UserId: actorID, Role: "sales", TeamId: "east"},
		Changes:     changes,
		Traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	}
	if err := e.srv.HandleEvent(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestPermissions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.record(t, "CUST-1", "u-1", "customer.created", time.Now())

	list := func(ctx context.Context) error {
		_, err := e.client.ListAuditEvents(ctx, &auditv1.ListAuditEventsRequest{EntityId: "CUST-1"})
		return err
	}
	verify := func(ctx context.Context) error {
		_, err := e.client.VerifyAuditChain(ctx, &auditv1.VerifyAuditChainRequest{})
		return err
	}
	rpcs := []struct {
		name string
		call func(context.Context) error
		// allowed roles; every other role is PERMISSION_DENIED.
		allowed []authn.Role
	}{
		{"ListAuditEvents", list, []authn.Role{authn.RoleAdmin, authn.RoleSystem}},
		{"VerifyAuditChain", verify, []authn.Role{authn.RoleAdmin}},
	}
	roles := []authn.Role{authn.RoleAdmin, authn.RoleManager, authn.RoleSales, authn.RoleService, authn.RoleExecutive, authn.RoleSystem}
	for _, rpc := range rpcs {
		for _, role := range roles {
			want := codes.PermissionDenied
			if slices.Contains(rpc.allowed, role) {
				want = codes.OK
			}
			t.Run(fmt.Sprintf("%s/%s", rpc.name, role), func(t *testing.T) {
				t.Parallel()
				if got := status.Code(rpc.call(as(t, role))); got != want {
					t.Errorf("code = %s, want %s", got, want)
				}
			})
		}
		t.Run(rpc.name+"/no token", func(t *testing.T) {
			t.Parallel()
			if got := status.Code(rpc.call(t.Context())); got != codes.Unauthenticated {
				t.Errorf("code = %s, want Unauthenticated", got)
			}
		})
		t.Run(rpc.name+"/bad token", func(t *testing.T) {
			t.Parallel()
			ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer not-a-token")
			if got := status.Code(rpc.call(ctx)); got != codes.Unauthenticated {
				t.Errorf("code = %s, want Unauthenticated", got)
			}
		})
	}
}

// violations returns the BadRequest field violations and the LocalizedMessage of err's status.
func violations(t *testing.T, err error) (map[string]*errdetails.BadRequest_FieldViolation, *errdetails.LocalizedMessage, *errdetails.ErrorInfo) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("code = %s (%v), want InvalidArgument", st.Code(), err)
	}
	out := map[string]*errdetails.BadRequest_FieldViolation{}
	var lm *errdetails.LocalizedMessage
	var info *errdetails.ErrorInfo
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				out[v.GetField()] = v
			}
		case *errdetails.LocalizedMessage:
			lm = d
		case *errdetails.ErrorInfo:
			info = d
		}
	}
	if info == nil || info.GetDomain() != Domain {
		t.Errorf("ErrorInfo = %v, want domain %s", info, Domain)
	}
	return out, lm, info
}

func TestListValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		caller authn.Role
		req    *auditv1.ListAuditEventsRequest
		want   map[string]string // field → reason
	}{
		{"negative page size", authn.RoleAdmin, &auditv1.ListAuditEventsRequest{PageSize: -1},
			map[string]string{"page_size": "OUT_OF_RANGE"}},
		{"end before start", authn.RoleAdmin, &auditv1.ListAuditEventsRequest{StartTime: timestamppb.New(start), EndTime: timestamppb.New(start.Add(-time.Second))},
			map[string]string{"end_time": "OUT_OF_RANGE"}},
		{"empty range", authn.RoleAdmin, &auditv1.ListAuditEventsRequest{StartTime: timestamppb.New(start), EndTime: timestamppb.New(start)},
			map[string]string{"end_time": "OUT_OF_RANGE"}},
		{"invalid timestamp", authn.RoleAdmin, &auditv1.ListAuditEventsRequest{StartTime: &timestamppb.Timestamp{Seconds: 1, Nanos: -1}},
			map[string]string{"start_time": "INVALID_FORMAT"}},
		{"too long filters", authn.RoleAdmin, &auditv1.ListAuditEventsRequest{EntityType: strings.Repeat("客", 201), ActorId: strings.Repeat("u", 201)},
			map[string]string{"entity_type": "TOO_LONG", "actor_id": "TOO_LONG"}},
		{"NUL in filter", authn.RoleAdmin, &auditv1.ListAuditEventsRequest{EventType: "customer\x00"},
			map[string]string{"event_type": "INVALID_FORMAT"}},
		{"system caller without entity", authn.RoleSystem, &auditv1.ListAuditEventsRequest{EntityType: "customer"},
			map[string]string{"entity_id": "REQUIRED"}},
		{"garbage page token", authn.RoleAdmin, &auditv1.ListAuditEventsRequest{PageToken: "not a token"},
			map[string]string{"page_token": "INVALID_FORMAT"}},
		{"every violation at once", authn.RoleSystem, &auditv1.ListAuditEventsRequest{PageSize: -5, EventType: strings.Repeat("x", 300),
			StartTime: timestamppb.New(start), EndTime: timestamppb.New(start.Add(-time.Hour))},
			map[string]string{"page_size": "OUT_OF_RANGE", "event_type": "TOO_LONG", "entity_id": "REQUIRED", "end_time": "OUT_OF_RANGE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.client.ListAuditEvents(as(t, tt.caller), tt.req)
			got, lm, info := violations(t, err)
			if info.GetReason() != "INVALID_ARGUMENT" {
				t.Errorf("ErrorInfo reason = %q, want INVALID_ARGUMENT", info.GetReason())
			}
			if len(got) != len(tt.want) {
				t.Errorf("violations on %v, want %v", keys(got), tt.want)
			}
			for field, reason := range tt.want {
				v, ok := got[field]
				if !ok {
					t.Errorf("no violation on %s", field)
					continue
				}
				if v.GetReason() != reason {
					t.Errorf("%s reason = %q, want %q", field, v.GetReason(), reason)
				}
				if v.GetLocalizedMessage().GetLocale() != "zh-CN" || !hasHan(v.GetDescription()) {
					t.Errorf("%s message = %q (%s), want Chinese by default", field, v.GetDescription(), v.GetLocalizedMessage().GetLocale())
				}
			}
			if lm.GetLocale() != "zh-CN" {
				t.Errorf("LocalizedMessage locale = %q, want zh-CN", lm.GetLocale())
			}
		})
	}
}

func TestListValidationInEnglish(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := metadata.AppendToOutgoingContext(as(t, authn.RoleSystem), "accept-language", "en")
	_, err := e.client.ListAuditEvents(ctx, &auditv1.ListAuditEventsRequest{PageSize: -1})
	got, lm, _ := violations(t, err)
	want := map[string]string{
		"page_size": "page_size must be between 1 and 500",
		"entity_id": "entity_id is required for system callers",
	}
	for field, text := range want {
		v := got[field]
		if v.GetDescription() != text || v.GetLocalizedMessage().GetLocale() != "en" || v.GetLocalizedMessage().GetMessage() != text {
			t.Errorf("%s = %q (%s), want %q in en", field, v.GetDescription(), v.GetLocalizedMessage().GetLocale(), text)
		}
	}
	if lm.GetLocale() != "en" || hasHan(lm.GetMessage()) {
		t.Errorf("LocalizedMessage = %v, want English", lm)
	}
}

func TestListReturnsRecordsNewestFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	at := time.Date(2026, 11, 23, 9, 30, 0, 123456789, time.UTC)
	before, err := structpb.NewValue("13812345678")
	if err != nil {
		t.Fatal(err)
	}
	after, err := structpb.NewValue(map[string]any{"city": "杭州", "district": "西湖区"})
	if err != nil {
		t.Fatal(err)
	}
	changes := []*commonv1.FieldChange{
		{Field: "mobile", Before: before, After: structpb.NewNullValue()},
		{Field: "address", Before: structpb.NewNullValue(), After: after},
	}
	first := e.record(t, "CUST-1", "u-1", "customer.created", at)
	second := e.record(t, "CUST-1", "u-2", "customer.updated", at.Add(time.Minute), changes...)

	resp, err := e.client.ListAuditEvents(as(t, authn.RoleSystem), &auditv1.ListAuditEventsRequest{EntityId: "CUST-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetAuditEvents()) != 2 || resp.GetNextPageToken() != "" {
		t.Fatalf("got %d records and token %q, want 2 and none", len(resp.GetAuditEvents()), resp.GetNextPageToken())
	}
	got := resp.GetAuditEvents()[0]
	want := &auditv1.AuditEvent{
		EventId:    second.GetId(),
		Sequence:   2,
		EventType:  "customer.updated",
		Source:     "customer",
		EntityType: "customer",
		EntityId:   "CUST-1",
		EventTime:  timestamppb.New(at.Add(time.Minute).Truncate(time.Microsecond)),
		Actor:      &commonv1.Actor{UserId: "u-2", Role: "sales", TeamId: "east"},
		Changes:    changes,
		TraceId:    "4bf92f3577b34da6a3ce929d0e0e4736",
		PrevHash:   resp.GetAuditEvents()[1].GetHash(),
	}
	// Record time and hash are the service's; compare the rest exactly.
	if got.GetRecordTime() == nil || len(got.GetHash()) != 64 {
		t.Errorf("record time %v, hash %q: want both set", got.GetRecordTime(), got.GetHash())
	}
	trimmed := proto.Clone(got).(*auditv1.AuditEvent)
	trimmed.RecordTime, trimmed.Hash = nil, ""
	if !proto.Equal(trimmed, want) {
		t.Errorf("record =\n%v\nwant\n%v", trimmed, want)
	}
	if older := resp.GetAuditEvents()[1]; older.GetEventId() != first.GetId() || older.GetSequence() != 1 ||
		older.GetPrevHash() != strings.Repeat("0", 64) || len(older.GetChanges()) != 0 {
		t.Errorf("older record = %v", older)
	}
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for i := range 7 {
		entity := "CUST-1"
		if i%2 == 1 {
			entity = "CUST-2"
		}
		e.record(t, entity, "u-1", "customer.updated", at.Add(time.Duration(i)*time.Minute))
	}
	admin := as(t, authn.RoleAdmin)

	pages := func(req *auditv1.ListAuditEventsRequest) [][]int64 {
		t.Helper()
		var out [][]int64
		for range 10 {
			resp, err := e.client.ListAuditEvents(admin, req)
			if err != nil {
				t.Fatal(err)
			}
			var page []int64
			for _, ev := range resp.GetAuditEvents() {
				page = append(page, ev.GetSequence())
			}
			out = append(out, page)
			if resp.GetNextPageToken() == "" {
				return out
			}
			req = proto.Clone(req).(*auditv1.ListAuditEventsRequest)
			req.PageToken = resp.GetNextPageToken()
		}
		t.Fatal("paging did not end")
		return nil
	}
	tests := []struct {
		name string
		req  *auditv1.ListAuditEventsRequest
		want [][]int64
	}{
		{"default size", &auditv1.ListAuditEventsRequest{}, [][]int64{{7, 6, 5, 4, 3, 2, 1}}},
		{"by 3", &auditv1.ListAuditEventsRequest{PageSize: 3}, [][]int64{{7, 6, 5}, {4, 3, 2}, {1}}},
		{"exact fit has no empty last page", &auditv1.ListAuditEventsRequest{PageSize: 7}, [][]int64{{7, 6, 5, 4, 3, 2, 1}}},
		{"size above max is coerced", &auditv1.ListAuditEventsRequest{PageSize: 100000}, [][]int64{{7, 6, 5, 4, 3, 2, 1}}},
		{"filtered by 2", &auditv1.ListAuditEventsRequest{PageSize: 2, EntityId: "CUST-1"}, [][]int64{{7, 5}, {3, 1}}},
		{"filtered by time", &auditv1.ListAuditEventsRequest{PageSize: 2, StartTime: timestamppb.New(at.Add(2 * time.Minute)),
			EndTime: timestamppb.New(at.Add(6 * time.Minute))}, [][]int64{{6, 5}, {4, 3}}},
		{"no match", &auditv1.ListAuditEventsRequest{EntityId: "CUST-9"}, [][]int64{nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := pages(tt.req); !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Errorf("pages = %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("token reused with other filters", func(t *testing.T) {
		t.Parallel()
		resp, err := e.client.ListAuditEvents(admin, &auditv1.ListAuditEventsRequest{PageSize: 2, EntityId: "CUST-1"})
		if err != nil {
			t.Fatal(err)
		}
		for _, req := range []*auditv1.ListAuditEventsRequest{
			{PageSize: 2, EntityId: "CUST-2", PageToken: resp.GetNextPageToken()},
			{PageSize: 2, PageToken: resp.GetNextPageToken()},
			{PageSize: 2, EntityId: "CUST-1", ActorId: "u-1", PageToken: resp.GetNextPageToken()},
		} {
			_, err := e.client.ListAuditEvents(admin, req)
			got, _, _ := violations(t, err)
			if got["page_token"].GetReason() != "INVALID_FORMAT" {
				t.Errorf("%v: violations %v, want page_token INVALID_FORMAT", req, keys(got))
			}
		}
		// Another page size keeps the token valid (AIP-158).
		if _, err := e.client.ListAuditEvents(admin, &auditv1.ListAuditEventsRequest{PageSize: 5, EntityId: "CUST-1", PageToken: resp.GetNextPageToken()}); err != nil {
			t.Errorf("same filters with another page size: %v", err)
		}
	})
}

func TestVerifyAuditChain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 4 {
		e.record(t, "CUST-1", "u-1", "customer.updated", time.Now().Add(time.Duration(i)*time.Second))
	}
	admin := as(t, authn.RoleAdmin)
	resp, err := e.client.VerifyAuditChain(admin, &auditv1.VerifyAuditChainRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.GetOk() || resp.GetChecked() != 4 || resp.GetFirstBrokenSequence() != 0 || resp.GetReason() != "" {
		t.Fatalf("intact chain: %v", resp)
	}

	err = pgdb.InTx(t.Context(), e.pool, func(tx pgx.Tx) error {
		for _, stmt := range []string{
			"ALTER TABLE audit_events DISABLE TRIGGER ALL",
			"UPDATE audit_events SET entity_id = 'CUST-2' WHERE sequence = 2",
			"ALTER TABLE audit_events ENABLE TRIGGER ALL",
		} {
			if _, err := tx.Exec(t.Context(), stmt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = e.client.VerifyAuditChain(admin, &auditv1.VerifyAuditChainRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetOk() || resp.GetChecked() != 2 || resp.GetFirstBrokenSequence() != 2 || resp.GetReason() != "HASH_MISMATCH" {
		t.Fatalf("tampered chain: %v, want broken at 2 with HASH_MISMATCH", resp)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func hasHan(s string) bool {
	for _, r := range s {
		if r >= 0x4e00 && r <= 0x9fff {
			return true
		}
	}
	return false
}
