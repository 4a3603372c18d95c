package grpcx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/authz"
	"github.com/crmsuite/crm/pkg/telemetry"
	"github.com/crmsuite/crm/pkg/validate"
)

// TestMain installs the OpenTelemetry SDK (without exporting) so that RPCs
// carry real trace ids, as they do in the services.
func TestMain(m *testing.M) {
	os.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	os.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	os.Setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "")
	shutdown, err := telemetry.Setup(context.Background(), "grpcx-test", "test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = shutdown(context.Background())
	os.Exit(code)
}

const (
	testDomain  = "test.crm"
	testService = "crm.test.v1.TestService"
)

var testSecret = []byte("grpcx-test-secret-0123456789abcdef")

func method(name string) string { return "/" + testService + "/" + name }

var testPolicy = authz.Policy{
	method("Whoami"):  {authn.RoleSales: authz.ScopeOwn, authn.RoleManager: authz.ScopeTeam, authn.RoleAdmin: authz.ScopeAll},
	method("Relay"):   {authn.RoleSales: authz.ScopeOwn},
	method("Panic"):   {authn.RoleAdmin: authz.ScopeAll},
	method("Invalid"): {authn.RoleAdmin: authz.ScopeAll},
	method("Broken"):  {authn.RoleAdmin: authz.ScopeAll},
	method("Count"):   {authn.RoleAdmin: authz.ScopeAll},
	// "Secret" is registered but deliberately left out: denied to everyone.
}

// testServer implements crm.test.v1.TestService by hand (there are no CRM
// protos here); requests and responses are google.protobuf.StringValue.
type testServer struct {
	peer *grpc.ClientConn // for Relay
}

func whoami(ctx context.Context) string {
	p, _ := authn.FromContext(ctx)
	return p.UserID + "/" + authz.ScopeFromContext(ctx).String()
}

func (s *testServer) call(ctx context.Context, name string, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
	switch name {
	case "Whoami", "Secret":
		return wrapperspb.String(whoami(ctx)), nil
	case "Relay":
		out := new(wrapperspb.StringValue)
		if err := s.peer.Invoke(ctx, method("Whoami"), in, out); err != nil {
			return nil, fmt.Errorf("relay: %w", err)
		}
		return wrapperspb.String("relayed " + out.GetValue()), nil
	case "Panic":
		panic("handler bug")
	case "Invalid":
		return nil, &validate.Error{Violations: []validate.Violation{
			{Field: "mobile", Reason: "INVALID_FORMAT", Message: validate.Message{ZH: "联系方式格式错误", EN: "invalid mobile"}},
		}}
	case "Broken":
		return nil, fmt.Errorf("insert: %w", errors.New("SQLSTATE 42P01 secret detail"))
	}
	return nil, status.Error(codes.Unimplemented, name)
}

func unaryMethod(name string) grpc.MethodDesc {
	return grpc.MethodDesc{MethodName: name, Handler: func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
		in := new(wrapperspb.StringValue)
		if err := dec(in); err != nil {
			return nil, err
		}
		h := func(ctx context.Context, req any) (any, error) {
			return srv.(*testServer).call(ctx, name, req.(*wrapperspb.StringValue))
		}
		if icpt == nil {
			return h(ctx, in)
		}
		return icpt(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: method(name)}, h)
	}}
}

var testServiceDesc = grpc.ServiceDesc{
	ServiceName: testService,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		unaryMethod("Whoami"), unaryMethod("Relay"), unaryMethod("Panic"),
		unaryMethod("Invalid"), unaryMethod("Broken"), unaryMethod("Secret"),
	},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Count",
		ServerStreams: true,
		Handler: func(_ any, ss grpc.ServerStream) error {
			in := new(wrapperspb.StringValue)
			if err := ss.RecvMsg(in); err != nil {
				return err
			}
			for range 2 {
				if err := ss.SendMsg(wrapperspb.String(whoami(ss.Context()))); err != nil {
					return err
				}
			}
			return nil
		},
	}},
}

// start serves a test server on 127.0.0.1:0 and returns a client connection.
func start(t *testing.T, cfg ServerConfig, impl *testServer) *grpc.ClientConn {
	t.Helper()
	srv, _ := NewServer(cfg)
	srv.RegisterService(&testServiceDesc, impl)
	if missing := cfg.Policy.Uncovered(srv.GetServiceInfo()); !slices.Equal(missing, []string{method("Secret")}) {
		t.Fatalf("uncovered methods = %v", missing)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeListener(ctx, srv, lis, slog.New(slog.DiscardHandler)) }()
	conn, err := Dial(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeListener: %v", err)
		}
	})
	return conn
}

func token(t *testing.T, user string, roles ...authn.Role) string {
	t.Helper()
	tok, err := authn.IssueHS256(testSecret, "", "", authn.Principal{UserID: user, Team: "east", Roles: roles}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type wantErr struct {
	code   codes.Code
	reason string
	locale string
	msg    string
	md     map[string]string // expected ErrorInfo metadata entries (subset)
	bad    []string          // expected BadRequest fields
}

func checkStatus(t *testing.T, err error, want wantErr) {
	t.Helper()
	s := status.Convert(err)
	if s.Code() != want.code || s.Message() != want.msg {
		t.Fatalf("status = %v %q, want %v %q", s.Code(), s.Message(), want.code, want.msg)
	}
	var info *errdetails.ErrorInfo
	var loc *errdetails.LocalizedMessage
	var fields []string
	for _, d := range s.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.LocalizedMessage:
			loc = d
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	if info == nil || info.GetReason() != want.reason || info.GetDomain() != testDomain {
		t.Errorf("ErrorInfo = %v, want reason %s domain %s", info, want.reason, testDomain)
	}
	for k, v := range want.md {
		if got := info.GetMetadata()[k]; got != v && !(v == "*" && got != "") {
			t.Errorf("ErrorInfo metadata %s = %q, want %q", k, got, v)
		}
	}
	if !proto.Equal(loc, &errdetails.LocalizedMessage{Locale: want.locale, Message: want.msg}) {
		t.Errorf("LocalizedMessage = %v, want %s %q", loc, want.locale, want.msg)
	}
	if !slices.Equal(fields, want.bad) {
		t.Errorf("BadRequest fields = %v, want %v", fields, want.bad)
	}
}

func TestServer(t *testing.T) {
	t.Parallel()
	verifier, err := authn.NewHS256Verifier(testSecret, "", "")
	if err != nil {
		t.Fatal(err)
	}
	log, logs := newTestLogger()
	cfg := ServerConfig{Domain: testDomain, Verifier: verifier, Policy: testPolicy, Logger: log}
	backend := start(t, cfg, &testServer{})
	conn := start(t, cfg, &testServer{peer: backend})

	sales, admin, exec := token(t, "u-sales", authn.RoleSales), token(t, "u-admin", authn.RoleAdmin), token(t, "u-exec", authn.RoleExecutive)
	bearer := func(tok string, kv ...string) context.Context {
		ctx := context.Background()
		if tok != "" {
			ctx = authn.WithBearer(ctx, tok)
		}
		return metadata.AppendToOutgoingContext(ctx, kv...)
	}

	t.Run("health check is public", func(t *testing.T) {
		t.Parallel()
		resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("Check = %v, %v", resp, err)
		}
	})

	t.Run("reflection is public", func(t *testing.T) {
		t.Parallel()
		stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range resp.GetListServicesResponse().GetService() {
			names = append(names, s.GetName())
		}
		if !slices.Contains(names, testService) || !slices.Contains(names, "grpc.health.v1.Health") {
			t.Errorf("services = %v", names)
		}
		_ = stream.CloseSend()
	})

	unary := []struct {
		name   string
		ctx    context.Context
		method string
		want   string // response on success
		err    *wantErr
	}{
		{"no token", bearer(""), "Whoami", "", &wantErr{code: codes.Unauthenticated, reason: "UNAUTHENTICATED", locale: "zh-CN", msg: "缺少身份凭证，请先登录"}},
		{"no token, english", bearer("", "accept-language", "en-US,en;q=0.9"), "Whoami", "",
			&wantErr{code: codes.Unauthenticated, reason: "UNAUTHENTICATED", locale: "en", msg: "missing credentials: please sign in"}},
		{"token signed elsewhere", bearer(token(t, "u-x", authn.RoleAdmin) + "x"), "Whoami", "",
			&wantErr{code: codes.Unauthenticated, reason: "UNAUTHENTICATED", locale: "zh-CN", msg: "身份凭证无效或已过期，请重新登录"}},
		{"role without permission", bearer(exec), "Whoami", "",
			&wantErr{code: codes.PermissionDenied, reason: "PERMISSION_DENIED", locale: "zh-CN", msg: "无权执行此操作", md: map[string]string{"method": method("Whoami")}}},
		{"method missing from the policy", bearer(admin, "accept-language", "en"), "Secret", "",
			&wantErr{code: codes.PermissionDenied, reason: "PERMISSION_DENIED", locale: "en", msg: "you are not allowed to perform this operation"}},
		{"sales gets own scope", bearer(sales), "Whoami", "u-sales/own", nil},
		{"admin gets all", bearer(admin), "Whoami", "u-admin/all", nil},
		{"token forwarded to the next service", bearer(sales), "Relay", "relayed u-sales/own", nil},
		{"panic becomes internal", bearer(admin), "Panic", "",
			&wantErr{code: codes.Internal, reason: "INTERNAL", locale: "zh-CN", msg: "服务内部错误", md: map[string]string{"trace_id": "*"}}},
		{"validation error", bearer(admin, "accept-language", "en"), "Invalid", "",
			&wantErr{code: codes.InvalidArgument, reason: "INVALID_ARGUMENT", locale: "en", msg: "1 field is invalid: mobile", bad: []string{"mobile"}}},
		{"unexpected error hides the cause", bearer(admin, "accept-language", "en"), "Broken", "",
			&wantErr{code: codes.Internal, reason: "INTERNAL", locale: "en", msg: "internal error", md: map[string]string{"trace_id": "*"}}},
	}
	for _, tt := range unary {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := new(wrapperspb.StringValue)
			err := conn.Invoke(tt.ctx, method(tt.method), wrapperspb.String("mobile=13700001111"), out)
			if tt.err != nil {
				checkStatus(t, err, *tt.err)
				return
			}
			if err != nil || out.GetValue() != tt.want {
				t.Fatalf("%s = %q, %v; want %q", tt.method, out.GetValue(), err, tt.want)
			}
		})
	}

	streams := []struct {
		name string
		ctx  context.Context
		want []string
		err  *wantErr
	}{
		{"stream without token", bearer(""), nil, &wantErr{code: codes.Unauthenticated, reason: "UNAUTHENTICATED", locale: "zh-CN", msg: "缺少身份凭证，请先登录"}},
		{"stream denied", bearer(sales), nil, &wantErr{code: codes.PermissionDenied, reason: "PERMISSION_DENIED", locale: "zh-CN", msg: "无权执行此操作", md: map[string]string{"method": method("Count")}}},
		{"stream allowed", bearer(admin), []string{"u-admin/all", "u-admin/all"}, nil},
	}
	for _, tt := range streams {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stream, err := conn.NewStream(tt.ctx, &grpc.StreamDesc{ServerStreams: true}, method("Count"))
			if err != nil {
				t.Fatal(err)
			}
			if err := stream.SendMsg(wrapperspb.String("")); err != nil {
				t.Fatal(err)
			}
			if err := stream.CloseSend(); err != nil {
				t.Fatal(err)
			}
			var got []string
			for {
				out := new(wrapperspb.StringValue)
				err = stream.RecvMsg(out)
				if err != nil {
					break
				}
				got = append(got, out.GetValue())
			}
			if tt.err != nil {
				checkStatus(t, err, *tt.err)
				return
			}
			if !errors.Is(err, io.EOF) || !slices.Equal(got, tt.want) {
				t.Fatalf("stream = %v, %v; want %v", got, err, tt.want)
			}
		})
	}

	// After the parallel subtests: the server survived the panic, and the
	// logs have one line per RPC, with trace ids and without payloads.
	t.Cleanup(func() {
		out := new(wrapperspb.StringValue)
		if err := conn.Invoke(bearer(admin), method("Whoami"), wrapperspb.String(""), out); err != nil {
			t.Errorf("after panic: %v", err)
		}
		ctx, span := otel.Tracer("test").Start(bearer(sales), "client")
		if err := conn.Invoke(ctx, method("Whoami"), wrapperspb.String(""), out); err != nil {
			t.Errorf("traced call: %v", err)
		}
		span.End()
		traceID := span.SpanContext().TraceID().String()
		found := false
		for _, r := range logs.records(t, "rpc") {
			if r["method"] == nil || r["code"] == nil || r["duration_ms"] == nil || r["trace_id"] == nil {
				t.Errorf("rpc log line lacks fields: %v", r)
			}
			found = found || r["trace_id"] == traceID
		}
		if !found {
			t.Errorf("no rpc log line with the client's trace id %s", traceID)
		}
		if panics := logs.records(t, "panic recovered"); len(panics) != 1 {
			t.Errorf("%d panic log lines, want 1", len(panics))
		}
		unexpected := logs.records(t, "unexpected error")
		if len(unexpected) != 1 || !strings.Contains(unexpected[0]["error"].(string), "secret detail") {
			t.Errorf("unexpected-error log lines = %v, want the cause once", unexpected)
		}
		if strings.Contains(logs.String(), "13700001111") {
			t.Error("logs carry request payloads")
		}
	})
}

func TestServerWithoutVerifier(t *testing.T) {
	t.Parallel()
	conn := start(t, ServerConfig{Domain: testDomain, Policy: testPolicy}, &testServer{})
	admin := authn.WithBearer(context.Background(), token(t, "u-admin", authn.RoleAdmin))
	err := conn.Invoke(admin, method("Whoami"), wrapperspb.String(""), new(wrapperspb.StringValue))
	checkStatus(t, err, wantErr{code: codes.Unauthenticated, reason: "UNAUTHENTICATED", locale: "zh-CN", msg: "身份凭证无效或已过期，请重新登录"})
	if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health: %v", err)
	}
}

func TestServeStopsOpenStreams(t *testing.T) {
	t.Parallel()
	srv, _ := NewServer(ServerConfig{Domain: testDomain})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveListener(ctx, srv, lis, slog.New(slog.DiscardHandler), 200*time.Millisecond) }()
	conn, err := Dial(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// A health Watch stays open until the server ends it: GracefulStop alone
	// would wait for ever.
	watch, err := healthpb.NewHealthClient(conn).Watch(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch = %v, %v", resp, err)
	}

	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serveListener = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serveListener did not return after the shutdown timeout")
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("returned after %v, before the graceful timeout", d)
	}
}

func TestServeListenError(t *testing.T) {
	t.Parallel()
	srv, _ := NewServer(ServerConfig{Domain: testDomain})
	if err := Serve(context.Background(), srv, "256.0.0.1:0", nil); err == nil {
		t.Error("Serve on an invalid address returned nil")
	}
}
