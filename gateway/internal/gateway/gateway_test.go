package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/crmsuite/crm/gateway/internal/gateway"
	"github.com/crmsuite/crm/pkg/apierr"
	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/authz"
	"github.com/crmsuite/crm/pkg/grpcx"
	"github.com/crmsuite/crm/pkg/telemetry"
	"github.com/crmsuite/crm/pkg/validate"
	auditv1 "github.com/crmsuite/crm/proto/gen/go/crm/audit/v1"
	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
)

const (
	testSecret   = "gateway-test-secret-0123456789abcdef"
	testIssuer   = "crm-test"
	testAudience = "crm"
)

// TestMain installs the OpenTelemetry providers and propagator as the binaries do, so that the
// tests see trace context travel from HTTP through the gateway into gRPC metadata.
func TestMain(m *testing.M) {
	shutdown, err := telemetry.Setup(context.Background(), "gateway-test", "test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = shutdown(context.Background())
	os.Exit(code)
}

// auditStub is a real AuditService behind grpcx's interceptors. ListAuditEvents echoes what
// reached the service into a canned record:
//
//	eventId    = x-request-id metadata
//	entityType = accept-language metadata
//	entityId   = the request's entity_id
//	actor      = the authenticated principal
//	sequence   = how many authorization values arrived
//	hash       = the sorted metadata keys, comma-separated
//	traceId    = the traceparent metadata
//
// and fails with INVALID_ARGUMENT (BadRequest, ErrorInfo, LocalizedMessage) when entity_type is
// "fail".
type auditStub struct {
	auditv1.UnimplementedAuditServiceServer
}

func (auditStub) ListAuditEvents(ctx context.Context, req *auditv1.ListAuditEventsRequest) (*auditv1.ListAuditEventsResponse, error) {
	if req.GetEntityType() == "fail" {
		verr := &validate.Error{Violations: []validate.Violation{{
			Field:   "entity_type",
			Reason:  validate.ReasonUnknownCode,
			Message: validate.Message{ZH: "未知的实体类型", EN: "unknown entity type"},
		}}}
		return nil, apierr.Status(ctx, "audit.crm", verr).Err()
	}
	md, _ := metadata.FromIncomingContext(ctx)
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	p, _ := authn.FromContext(ctx)
	first := func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	var role string
	if len(p.Roles) > 0 {
		role = string(p.Roles[0])
	}
	return &auditv1.ListAuditEventsResponse{AuditEvents: []*auditv1.AuditEvent{{
		EventId:    first("x-request-id"),
		EntityType: first("accept-language"),
		EntityId:   req.GetEntityId(),
		Actor:      &commonv1.Actor{UserId: p.UserID, Role: role, TeamId: p.Team},
		Sequence:   int64(len(md.Get("authorization"))),
		Hash:       strings.Join(keys, ","),
		TraceId:    first("traceparent"),
	}}}, nil
}

func (auditStub) VerifyAuditChain(context.Context, *auditv1.VerifyAuditChainRequest) (*auditv1.VerifyAuditChainResponse, error) {
	return &auditv1.VerifyAuditChainResponse{Ok: true, Checked: 3}, nil
}

// upstream is a running audit stub.
type upstream struct {
	addr   string
	health *health.Server
	stop   func()
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	verifier, err := authn.NewHS256Verifier([]byte(testSecret), testIssuer, testAudience)
	if err != nil {
		t.Fatal(err)
	}
	srv, hs := grpcx.NewServer(grpcx.ServerConfig{
		Domain:   "audit.crm",
		Verifier: verifier,
		Policy: authz.Policy{
			auditv1.AuditService_ListAuditEvents_FullMethodName:  {authn.RoleAdmin: authz.ScopeAll, authn.RoleSales: authz.ScopeAll},
			auditv1.AuditService_VerifyAuditChain_FullMethodName: {authn.RoleAdmin: authz.ScopeAll},
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	auditv1.RegisterAuditServiceServer(srv, auditStub{})
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	u := &upstream{addr: lis.Addr().String(), health: hs, stop: srv.Stop}
	t.Cleanup(srv.Stop)
	return u
}

// logBuffer collects log output written concurrently by the server.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// testGateway is a gateway serving on a real port, with its own HTTP client: the cleanup closes
// the client's idle connections before shutting the server down, because a connection the client
// dialled but never used would hold up the graceful shutdown for 5 s.
type testGateway struct {
	url    string
	logs   *logBuffer
	client *http.Client
}

// startGateway runs a gateway in front of the given upstream addresses (name → address).
func startGateway(t *testing.T, addrs map[string]string, modify func(*gateway.Config)) *testGateway {
	t.Helper()
	cfg := gateway.Config{AuthSecret: testSecret, AuthIssuer: testIssuer, AuthAudience: testAudience}
	for name, addr := range addrs {
		cfg.Upstreams = append(cfg.Upstreams, gateway.Upstream{Name: name, Addr: addr, Register: auditv1.RegisterAuditServiceHandler})
	}
	if modify != nil {
		modify(&cfg)
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	gw, err := gateway.New(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, ln, 5*time.Second) }()
	transport := &http.Transport{}
	t.Cleanup(func() {
		transport.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := gw.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return &testGateway{url: "http://" + ln.Addr().String(), logs: logs, client: &http.Client{Transport: transport}}
}

func token(t *testing.T, userID, team string, roles ...authn.Role) string {
	t.Helper()
	tok, err := authn.IssueHS256([]byte(testSecret), testIssuer, testAudience,
		authn.Principal{UserID: userID, Name: "测试用户", Team: team, Roles: roles}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// do sends a request to path and returns the response with its body read.
func (g *testGateway) do(t *testing.T, method, path string, headers map[string]string, body string) (*http.Response, []byte) {
	t.Helper()
	return do(t, g.client, method, g.url+path, headers, body)
}

// do sends a request with client and returns the response with its body read.
func do(t *testing.T, client *http.Client, method, url string, headers map[string]string, body string) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, b)
	}
	return m
}

// firstEvent returns auditEvents[0] of a ListAuditEvents response.
func firstEvent(t *testing.T, b []byte) map[string]any {
	t.Helper()
	events, ok := decode(t, b)["auditEvents"].([]any)
	if !ok || len(events) != 1 {
		t.Fatalf("want one auditEvents entry, got %s", b)
	}
	return events[0].(map[string]any)
}

func TestProxyJSONAndForwardedHeaders(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	gw := startGateway(t, map[string]string{"audit": up.addr}, nil)
	admin := token(t, "u-admin", "hq", authn.RoleAdmin)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"

	resp, body := gw.do(t, http.MethodGet, "/v1/auditEvents?entityId=CUST-1&pageSize=5", map[string]string{
		"Authorization":   "Bearer " + admin,
		"Accept-Language": "en-US,en;q=0.9",
		"X-Request-Id":    "req-123.abc_DEF",
		"Cookie":          "session=secret",
		"Traceparent":     "00-" + traceID + "-00f067aa0ba902b7-01",
	}, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	ev := firstEvent(t, body)
	want := map[string]any{
		"eventId":    "req-123.abc_DEF",
		"entityType": "en-US,en;q=0.9",
		"entityId":   "CUST-1",
		"sequence":   "1", // int64 is a string in proto JSON; and authorization arrived exactly once
		"actor":      map[string]any{"userId": "u-admin", "role": "admin", "teamId": "hq"},
	}
	for k, v := range want {
		if got := ev[k]; fmt.Sprint(got) != fmt.Sprint(v) {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	// EmitUnpopulated is off: unset fields are absent, not zero.
	for _, k := range []string{"source", "prevHash", "eventTime", "event_id"} {
		if _, ok := ev[k]; ok {
			t.Errorf("field %q should be absent: %s", k, body)
		}
	}
	if _, ok := decode(t, body)["nextPageToken"]; ok {
		t.Errorf("empty nextPageToken should be absent: %s", body)
	}
	keys := strings.Split(ev["hash"].(string), ",")
	for _, k := range []string{"authorization", "accept-language", "x-request-id"} {
		if !slices.Contains(keys, k) {
			t.Errorf("metadata %q not forwarded; got %v", k, keys)
		}
	}
	for _, k := range keys {
		if strings.Contains(k, "cookie") || strings.HasPrefix(k, "grpcgateway-") {
			t.Errorf("metadata %q should not be forwarded", k)
		}
	}
	if tp, _ := ev["traceId"].(string); !strings.Contains(tp, traceID) {
		t.Errorf("trace context not propagated: traceparent %q, want trace %s", tp, traceID)
	}
	if got := resp.Header.Get("X-Request-Id"); got != "req-123.abc_DEF" {
		t.Errorf("X-Request-Id echoed as %q", got)
	}

	// The proto (snake_case) spelling of a query parameter works too.
	resp, body = gw.do(t, http.MethodGet, "/v1/auditEvents?entity_id=CUST-2", map[string]string{"Authorization": "Bearer " + admin}, "")
	if resp.StatusCode != http.StatusOK || firstEvent(t, body)["entityId"] != "CUST-2" {
		t.Errorf("snake_case query: status %d, %s", resp.StatusCode, body)
	}
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	gw := startGateway(t, map[string]string{"audit": up.addr}, nil)
	admin := token(t, "u-admin", "hq", authn.RoleAdmin)

	resp, body := gw.do(t, http.MethodGet, "/v1/auditEvents?entityId=13800138000", map[string]string{
		"Authorization": "Bearer " + admin, "X-Request-Id": "log-test-1",
	}, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	// The line is written after the response; give it a moment.
	var line map[string]any
	for deadline := time.Now().Add(2 * time.Second); line == nil && time.Now().Before(deadline); {
		for l := range strings.SplitSeq(gw.logs.String(), "\n") {
			if strings.Contains(l, `"log-test-1"`) {
				line = decode(t, []byte(l))
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if line == nil {
		t.Fatalf("no access log line; logs:\n%s", gw.logs.String())
	}
	if line["route"] != "/v1/auditEvents" || line["method"] != "GET" || line["status"] != float64(200) {
		t.Errorf("access log %v", line)
	}
	if tid, _ := line["trace_id"].(string); len(tid) != 32 {
		t.Errorf("access log without trace id: %v", line)
	}
	if _, ok := line["duration_ms"]; !ok {
		t.Errorf("access log without duration: %v", line)
	}
	if strings.Contains(gw.logs.String(), "13800138000") || strings.Contains(gw.logs.String(), admin) {
		t.Errorf("logs carry query values or tokens:\n%s", gw.logs.String())
	}
}

func TestErrorDetailsReachClient(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	gw := startGateway(t, map[string]string{"audit": up.addr}, nil)
	admin := token(t, "u-admin", "hq", authn.RoleAdmin)

	for _, tc := range []struct {
		lang, locale, message string
	}{
		{"en", "en", "unknown entity type"},
		{"", "zh-CN", "未知的实体类型"},
	} {
		t.Run(tc.locale, func(t *testing.T) {
			t.Parallel()
			h := map[string]string{"Authorization": "Bearer " + admin}
			if tc.lang != "" {
				h["Accept-Language"] = tc.lang
			}
			resp, body := gw.do(t, http.MethodGet, "/v1/auditEvents?entityType=fail", h, "")
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
			}
			var st struct {
				Code    int              `json:"code"`
				Message string           `json:"message"`
				Details []map[string]any `json:"details"`
			}
			if err := json.Unmarshal(body, &st); err != nil {
				t.Fatal(err)
			}
			if st.Code != 3 {
				t.Errorf("code %d, want 3 (INVALID_ARGUMENT)", st.Code)
			}
			byType := map[string]map[string]any{}
			for _, d := range st.Details {
				byType[fmt.Sprint(d["@type"])] = d
			}
			br := byType["type.googleapis.com/google.rpc.BadRequest"]
			fv, _ := br["fieldViolations"].([]any)
			if len(fv) != 1 {
				t.Fatalf("BadRequest field violations missing: %s", body)
			}
			v := fv[0].(map[string]any)
			if v["field"] != "entity_type" || v["reason"] != validate.ReasonUnknownCode {
				t.Errorf("field violation %v", v)
			}
			if ei := byType["type.googleapis.com/google.rpc.ErrorInfo"]; ei["domain"] != "audit.crm" || ei["reason"] != apierr.ReasonInvalidArgument {
				t.Errorf("ErrorInfo %v", ei)
			}
			lm := byType["type.googleapis.com/google.rpc.LocalizedMessage"]
			if lm["locale"] != tc.locale {
				t.Errorf("LocalizedMessage %v, want locale %s", lm, tc.locale)
			}
			if !strings.Contains(fmt.Sprint(v["description"])+fmt.Sprint(lm["message"]), tc.message) {
				t.Errorf("no %q in the details: %s", tc.message, body)
			}
		})
	}
}

func TestAuthErrors(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	gw := startGateway(t, map[string]string{"audit": up.addr}, nil)

	for _, tc := range []struct {
		name, method, path, auth, body string
		status, code                   int
	}{
		{"no token", http.MethodGet, "/v1/auditEvents", "", "", http.StatusUnauthorized, 16},
		{"bad token", http.MethodGet, "/v1/auditEvents", "Bearer nope", "", http.StatusUnauthorized, 16},
		{"wrong secret", http.MethodGet, "/v1/auditEvents", "Bearer " + mustIssue(t, "another-secret-0123456789abcdef-xyz"), "", http.StatusUnauthorized, 16},
		{"role not allowed", http.MethodPost, "/v1/auditEvents:verify", "Bearer " + token(t, "u-sales1", "east", authn.RoleSales), "{}", http.StatusForbidden, 7},
		{"unknown JSON field", http.MethodPost, "/v1/auditEvents:verify", "Bearer " + token(t, "u-admin", "hq", authn.RoleAdmin), `{"bogus":1}`, http.StatusBadRequest, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := map[string]string{}
			if tc.auth != "" {
				h["Authorization"] = tc.auth
			}
			resp, body := gw.do(t, tc.method, tc.path, h, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if got := decode(t, body)["code"]; got != float64(tc.code) {
				t.Errorf("code %v, want %d: %s", got, tc.code, body)
			}
			if tc.status == http.StatusUnauthorized {
				if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer realm="crm"` {
					t.Errorf("WWW-Authenticate %q", got)
				}
			}
		})
	}

	// And with a valid admin token the same call succeeds, with int64 as a JSON string.
	resp, body := gw.do(t, http.MethodPost, "/v1/auditEvents:verify",
		map[string]string{"Authorization": "Bearer " + token(t, "u-admin", "hq", authn.RoleAdmin)}, "{}")
	// (protojson varies its whitespace on purpose, so compare values, not bytes.)
	if resp.StatusCode != http.StatusOK || fmt.Sprint(decode(t, body)) != "map[checked:3 ok:true]" {
		t.Errorf("verify: status %d, body %s", resp.StatusCode, body)
	}
}

func mustIssue(t *testing.T, secret string) string {
	t.Helper()
	tok, err := authn.IssueHS256([]byte(secret), testIssuer, testAudience,
		authn.Principal{UserID: "u-admin", Roles: []authn.Role{authn.RoleAdmin}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	gw := startGateway(t, map[string]string{"audit": up.addr}, nil)
	admin := token(t, "u-admin", "hq", authn.RoleAdmin)

	for _, tc := range []struct {
		name, sent string
		kept       bool
	}{
		{"sane id kept", "0b6e1c2a-9f3d-4c55-8e1f-2d3c4b5a6978", true},
		{"max length kept", strings.Repeat("a", 64), true},
		{"absent", "", false},
		{"too long", strings.Repeat("a", 65), false},
		{"bad characters", "abc def<script>", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := map[string]string{"Authorization": "Bearer " + admin}
			if tc.sent != "" {
				h["X-Request-Id"] = tc.sent
			}
			resp, body := gw.do(t, http.MethodGet, "/v1/auditEvents", h, "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			got := resp.Header.Get("X-Request-Id")
			if tc.kept {
				if got != tc.sent {
					t.Errorf("X-Request-Id %q, want %q", got, tc.sent)
				}
			} else if id, err := uuid.Parse(got); err != nil || id.Version() != 7 {
				t.Errorf("generated X-Request-Id %q is not a UUIDv7", got)
			}
			if fwd := firstEvent(t, body)["eventId"]; fwd != got {
				t.Errorf("service saw request id %v, client %q", fwd, got)
			}
		})
	}

	// Ids are generated for the gateway's own routes and errors too.
	resp, _ := gw.do(t, http.MethodGet, "/v1/nowhere", nil, "")
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("unknown route: status %d, request id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	listed := startGateway(t, map[string]string{"audit": up.addr}, func(c *gateway.Config) {
		c.CORSAllowedOrigins = []string{"https://crm.example.com"}
	})
	anyOrigin := startGateway(t, map[string]string{"audit": up.addr}, func(c *gateway.Config) {
		c.CORSAllowedOrigins = []string{"*"}
	})
	none := startGateway(t, map[string]string{"audit": up.addr}, nil)
	preflight := func(origin string) map[string]string {
		return map[string]string{
			"Origin":                         origin,
			"Access-Control-Request-Method":  "PATCH",
			"Access-Control-Request-Headers": "authorization, content-type, if-match",
		}
	}

	for _, tc := range []struct {
		name       string
		gw         *testGateway
		origin     string
		status     int
		allowOrign string
	}{
		{"listed origin", listed, "https://crm.example.com", http.StatusNoContent, "https://crm.example.com"},
		{"other origin", listed, "https://evil.example.com", http.StatusForbidden, ""},
		{"wildcard", anyOrigin, "https://anything.example", http.StatusNoContent, "*"},
		{"none configured", none, "https://crm.example.com", http.StatusForbidden, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body := tc.gw.do(t, http.MethodOptions, "/v1/auditEvents", preflight(tc.origin), "")
			if resp.StatusCode != tc.status {
				t.Fatalf("preflight status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.allowOrign {
				t.Errorf("Allow-Origin %q, want %q", got, tc.allowOrign)
			}
			if tc.status != http.StatusNoContent {
				return
			}
			methods := resp.Header.Get("Access-Control-Allow-Methods")
			for _, m := range []string{"GET", "POST", "PATCH", "DELETE", "OPTIONS"} {
				if !strings.Contains(methods, m) {
					t.Errorf("Allow-Methods %q lacks %s", methods, m)
				}
			}
			headers := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
			for _, h := range []string{"authorization", "content-type", "accept-language", "x-request-id", "if-match"} {
				if !strings.Contains(headers, h) {
					t.Errorf("Allow-Headers %q lacks %s", headers, h)
				}
			}
			if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("credentials must not be allowed")
			}
		})
	}

	// A simple request from a listed origin may read ETag and X-Request-Id.
	resp, _ := listed.do(t, http.MethodGet, "/healthz", map[string]string{"Origin": "https://crm.example.com"}, "")
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://crm.example.com" ||
		!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "ETag") ||
		!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
		t.Errorf("simple request CORS headers: %v", resp.Header)
	}
}

func TestReadiness(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	// A port where nothing listens: listen, note the address, close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downAddr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}

	ready := startGateway(t, map[string]string{"audit": up.addr}, func(c *gateway.Config) { c.ReadyTimeout = 500 * time.Millisecond })
	resp, body := ready.do(t, http.MethodGet, "/readyz", nil, "")
	if resp.StatusCode != http.StatusOK || decode(t, body)["status"] != "ready" {
		t.Errorf("serving upstream: status %d, body %s", resp.StatusCode, body)
	}

	down := startGateway(t, map[string]string{"audit": up.addr, "customer": downAddr}, func(c *gateway.Config) { c.ReadyTimeout = 500 * time.Millisecond })
	resp, body = down.do(t, http.MethodGet, "/readyz", nil, "")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("upstream down: status %d, body %s", resp.StatusCode, body)
	}
	if nr := fmt.Sprint(decode(t, body)["notReady"]); nr != "[customer]" {
		t.Errorf("notReady %s, want [customer]: %s", nr, body)
	}

	// /healthz stays 200 whatever the upstreams do.
	if resp, _ := down.do(t, http.MethodGet, "/healthz", nil, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("healthz status %d", resp.StatusCode)
	}

	up.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	resp, body = ready.do(t, http.MethodGet, "/readyz", nil, "")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("NOT_SERVING upstream: status %d, body %s", resp.StatusCode, body)
	}
	if got := decode(t, body)["upstreams"].(map[string]any)["audit"]; got != "NOT_SERVING" {
		t.Errorf("audit state %v: %s", got, body)
	}

	up.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	if resp, body := ready.do(t, http.MethodGet, "/readyz", nil, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("serving again: status %d, body %s", resp.StatusCode, body)
	}

	up.stop()
	start := time.Now()
	resp, body = ready.do(t, http.MethodGet, "/readyz", nil, "")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("stopped upstream: status %d, body %s", resp.StatusCode, body)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("readyz took %v with a dead upstream", d)
	}
}

func TestOpenAPI(t *testing.T) {
	t.Parallel()
	gw := startGateway(t, nil, nil)
	resp, body := gw.do(t, http.MethodGet, "/openapi.json", nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	var doc struct {
		Swagger string                    `json:"swagger"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if doc.Swagger != "2.0" {
		t.Errorf("swagger %q", doc.Swagger)
	}
	for _, p := range []string{"/v1/customers", "/v1/auditEvents"} {
		if _, ok := doc.Paths[p]; !ok {
			t.Errorf("path %s missing", p)
		}
	}
}

func TestDevToken(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	on := startGateway(t, map[string]string{"audit": up.addr}, func(c *gateway.Config) { c.DevAuth = true })
	off := startGateway(t, map[string]string{"audit": up.addr}, nil)
	noSecret := startGateway(t, map[string]string{"audit": up.addr}, func(c *gateway.Config) { c.DevAuth, c.AuthSecret = true, "" })

	t.Run("issues a verifiable token", func(t *testing.T) {
		t.Parallel()
		before := time.Now()
		resp, body := on.do(t, http.MethodPost, "/v1/auth/dev-token", nil,
			`{"userId":"u-sales1","name":"销售一","roles":["sales","manager"],"team":"east","ttlSeconds":3600}`)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		var out struct{ Token, ExpireTime string }
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		v, err := authn.NewHS256Verifier([]byte(testSecret), testIssuer, testAudience)
		if err != nil {
			t.Fatal(err)
		}
		p, err := v.Verify(out.Token)
		if err != nil {
			t.Fatalf("token does not verify: %v", err)
		}
		if p.UserID != "u-sales1" || p.Name != "销售一" || p.Team != "east" ||
			!slices.Equal(p.Roles, []authn.Role{authn.RoleSales, authn.RoleManager}) {
			t.Errorf("principal %+v", p)
		}
		exp, err := time.Parse(time.RFC3339, out.ExpireTime)
		if err != nil {
			t.Fatalf("expireTime %q: %v", out.ExpireTime, err)
		}
		if want := before.Add(time.Hour); exp.Before(want.Add(-2*time.Second)) || exp.After(want.Add(2*time.Second)) {
			t.Errorf("expireTime %v, want about %v", exp, want)
		}

		// The token works through the gateway.
		resp, body = on.do(t, http.MethodGet, "/v1/auditEvents", map[string]string{"Authorization": "Bearer " + out.Token}, "")
		if resp.StatusCode != http.StatusOK || fmt.Sprint(firstEvent(t, body)["actor"]) != "map[role:sales teamId:east userId:u-sales1]" {
			t.Errorf("call with dev token: status %d, %s", resp.StatusCode, body)
		}
	})

	for _, tc := range []struct {
		name, body string
		fields     []string // the BadRequest fields, nil for a JSON error
	}{
		{"unknown role", `{"userId":"u-x","roles":["admin","boss"]}`, []string{"roles[1]"}},
		{"no roles, no user", `{"roles":[]}`, []string{"userId", "roles"}},
		{"bad user id and ttl", `{"userId":"u x","roles":["sales"],"ttlSeconds":5}`, []string{"userId", "ttlSeconds"}},
		{"huge ttl", `{"userId":"u-x","roles":["sales"],"ttlSeconds":9223372036854775807}`, []string{"ttlSeconds"}},
		{"unknown field", `{"userId":"u-x","roles":["sales"],"admin":true}`, nil},
		{"not JSON", `roles=admin`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body := on.do(t, http.MethodPost, "/v1/auth/dev-token", map[string]string{"Accept-Language": "en"}, tc.body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
			}
			st := decode(t, body)
			if st["code"] != float64(3) {
				t.Errorf("code %v: %s", st["code"], body)
			}
			var fields []string
			for _, d := range st["details"].([]any) {
				d := d.(map[string]any)
				if d["@type"] == "type.googleapis.com/google.rpc.LocalizedMessage" && d["locale"] != "en" {
					t.Errorf("LocalizedMessage not in English: %v", d)
				}
				fv, _ := d["fieldViolations"].([]any)
				for _, v := range fv {
					fields = append(fields, fmt.Sprint(v.(map[string]any)["field"]))
				}
			}
			if !slices.Equal(fields, tc.fields) {
				t.Errorf("violations on %v, want %v: %s", fields, tc.fields, body)
			}
		})
	}

	for name, gw := range map[string]*testGateway{"disabled": off, "no secret": noSecret} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resp, body := gw.do(t, http.MethodPost, "/v1/auth/dev-token", nil, `{"userId":"u-admin","roles":["admin"]}`)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("status %d, want 404: %s", resp.StatusCode, body)
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	gw := startGateway(t, map[string]string{"audit": up.addr}, func(c *gateway.Config) { c.MaxBodyBytes = 64 })
	admin := "Bearer " + token(t, "u-admin", "hq", authn.RoleAdmin)
	big := `{"userId":"` + strings.Repeat("x", 100) + `"}`

	resp, body := gw.do(t, http.MethodPost, "/v1/auditEvents:verify", map[string]string{"Authorization": admin}, big)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413: %s", resp.StatusCode, body)
	}
	if !strings.Contains(string(body), "REQUEST_TOO_LARGE") {
		t.Errorf("413 body without reason: %s", body)
	}

	// Without Content-Length (chunked), the limit still holds: decoding fails with 400.
	req, err := http.NewRequest(http.MethodPost, gw.url+"/v1/auditEvents:verify", io.MultiReader(strings.NewReader(big)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err = gw.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked oversize body: status %d", resp.StatusCode)
	}
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	gw, err := gateway.New(context.Background(), gateway.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, ln, time.Second) }()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, _ := do(t, client, http.MethodGet, "http://"+ln.Addr().String()+"/healthz", nil, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v after shutdown", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after ctx was cancelled")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("still accepting connections after shutdown")
	}
	if err := gw.Close(); err != nil {
		t.Error(err)
	}
}

// TestEveryUpstreamRoutes builds the gateway from the real upstream table, with every service
// down: each service's routes exist and answer 503 UNAVAILABLE, not 404.
func TestEveryUpstreamRoutes(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downAddr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, nil, func(c *gateway.Config) {
		c.Upstreams = gateway.Upstreams()
		for i := range c.Upstreams {
			c.Upstreams[i].Addr = downAddr
		}
	})
	admin := map[string]string{"Authorization": "Bearer " + token(t, "u-admin", "hq", authn.RoleAdmin)}
	for _, path := range []string{"/v1/customers", "/v1/customers/CUST-20261123-0001", "/v1/auditEvents", "/v1/industries",
		"/v1/followups", "/v1/needs", "/v1/tags", "/v1/feedback"} {
		resp, body := gw.do(t, http.MethodGet, path, admin, "")
		if resp.StatusCode != http.StatusServiceUnavailable || decode(t, body)["code"] != float64(14) {
			t.Errorf("GET %s: status %d, body %s; want 503 UNAVAILABLE", path, resp.StatusCode, body)
		}
	}
	resp, body := gw.do(t, http.MethodGet, "/readyz", nil, "")
	if resp.StatusCode != http.StatusServiceUnavailable || fmt.Sprint(decode(t, body)["notReady"]) != "[customer audit followup needs tagging feedback]" {
		t.Errorf("readyz: status %d, body %s", resp.StatusCode, body)
	}
}
