package grpcx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// syncBuffer is a log sink safe for concurrent RPCs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// records returns the decoded JSON log lines whose msg is msg.
func (b *syncBuffer) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func newTestLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

var spanCtx = trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
	TraceID:    trace.TraceID{0xc0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
	SpanID:     trace.SpanID{0xd0, 1, 2, 3, 4, 5, 6, 7},
	TraceFlags: trace.FlagsSampled,
}))

func TestLevelFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method string
		code   codes.Code
		want   slog.Level
	}{
		{"/grpc.health.v1.Health/Check", codes.OK, slog.LevelDebug},
		{"/grpc.health.v1.Health/Check", codes.Internal, slog.LevelDebug},
		{"/crm.customer.v1.CustomerService/GetCustomer", codes.OK, slog.LevelInfo},
		{"/crm.customer.v1.CustomerService/GetCustomer", codes.NotFound, slog.LevelInfo},
		{"/crm.customer.v1.CustomerService/GetCustomer", codes.PermissionDenied, slog.LevelInfo},
		{"/crm.customer.v1.CustomerService/GetCustomer", codes.Unavailable, slog.LevelWarn},
		{"/crm.customer.v1.CustomerService/GetCustomer", codes.DeadlineExceeded, slog.LevelWarn},
		{"/crm.customer.v1.CustomerService/GetCustomer", codes.Internal, slog.LevelError},
		{"/crm.customer.v1.CustomerService/GetCustomer", codes.Unknown, slog.LevelError},
	}
	for _, tt := range tests {
		if got := levelFor(tt.method, tt.code); got != tt.want {
			t.Errorf("levelFor(%s, %v) = %v, want %v", tt.method, tt.code, got, tt.want)
		}
	}
}

func TestLogUnary(t *testing.T) {
	t.Parallel()
	const method = "/crm.customer.v1.CustomerService/CreateCustomer"
	tests := []struct {
		name  string
		ctx   context.Context
		err   error
		code  string
		level string
		trace bool
	}{
		{"ok with trace", spanCtx, nil, "OK", "INFO", true},
		{"client error", context.Background(), status.Error(codes.InvalidArgument, "bad"), "InvalidArgument", "INFO", false},
		{"server error", spanCtx, status.Error(codes.Internal, "boom"), "Internal", "ERROR", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			log, buf := newTestLogger()
			_, err := logUnary(log)(tt.ctx, "mobile=13912345678", &grpc.UnaryServerInfo{FullMethod: method},
				func(context.Context, any) (any, error) { return "resp-secret", tt.err })
			if !errors.Is(err, tt.err) {
				t.Errorf("err = %v, want %v unchanged", err, tt.err)
			}
			recs := buf.records(t, "rpc")
			if len(recs) != 1 {
				t.Fatalf("got %d rpc lines: %s", len(recs), buf.String())
			}
			r := recs[0]
			if r["method"] != method || r["code"] != tt.code || r["level"] != tt.level {
				t.Errorf("record = %v", r)
			}
			if _, ok := r["duration_ms"].(float64); !ok {
				t.Errorf("duration_ms = %v", r["duration_ms"])
			}
			if _, ok := r["trace_id"]; ok != tt.trace {
				t.Errorf("trace_id present = %v, want %v", ok, tt.trace)
			}
			if out := buf.String(); strings.Contains(out, "13912345678") || strings.Contains(out, "resp-secret") {
				t.Errorf("log carries payloads: %s", out)
			}
		})
	}
}

func TestRecoverUnary(t *testing.T) {
	t.Parallel()
	log, buf := newTestLogger()
	_, err := recoverUnary("test.crm", log)(spanCtx, nil, &grpc.UnaryServerInfo{FullMethod: "/x.Y/Z"},
		func(context.Context, any) (any, error) { panic("index out of range") })
	s := status.Convert(err)
	if s.Code() != codes.Internal || s.Message() != "服务内部错误" {
		t.Fatalf("status = %v %q", s.Code(), s.Message())
	}
	info, ok := s.Details()[0].(*errdetails.ErrorInfo)
	traceID := trace.SpanContextFromContext(spanCtx).TraceID().String()
	if !ok || info.GetReason() != "INTERNAL" || info.GetDomain() != "test.crm" || info.GetMetadata()["trace_id"] != traceID {
		t.Errorf("details = %v", s.Details())
	}
	recs := buf.records(t, "panic recovered")
	if len(recs) != 1 || recs[0]["panic"] != "index out of range" || recs[0]["trace_id"] != traceID ||
		!strings.Contains(recs[0]["stack"].(string), "recoverUnary") {
		t.Errorf("panic log = %v", recs)
	}
	if n := len(strings.Split(strings.TrimSpace(buf.String()), "\n")); n != 1 {
		t.Errorf("%d log lines, want the panic logged once: %s", n, buf.String())
	}

	_, err = recoverUnary("test.crm", log)(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/x.Y/Z"},
		func(context.Context, any) (any, error) { return nil, status.Error(codes.NotFound, "nf") })
	if status.Code(err) != codes.NotFound {
		t.Errorf("no panic: err = %v, want it unchanged", err)
	}
}
