package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

var testSpan = trace.NewSpanContext(trace.SpanContextConfig{
	TraceID:    trace.TraceID{0xa1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
	SpanID:     trace.SpanID{0xb1, 2, 3, 4, 5, 6, 7, 8},
	TraceFlags: trace.FlagsSampled,
})

func decode(t *testing.T, buf *bytes.Buffer) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	return m
}

func TestTraceHandler(t *testing.T) {
	t.Parallel()
	withSpan := trace.ContextWithSpanContext(context.Background(), testSpan)
	traceID, spanID := testSpan.TraceID().String(), testSpan.SpanID().String()

	tests := []struct {
		name      string
		ctx       context.Context
		log       func(*slog.Logger, context.Context)
		wantTrace string
		wantSpan  string
		check     func(*testing.T, map[string]any, string)
	}{
		{
			name: "adds ids from the context", ctx: withSpan,
			log:       func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "hello", "k", "v") },
			wantTrace: traceID, wantSpan: spanID,
		},
		{
			name: "no span, no ids", ctx: context.Background(),
			log: func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "hello") },
		},
		{
			name: "keeps an explicit trace_id and does not duplicate it", ctx: withSpan,
			log:       func(l *slog.Logger, ctx context.Context) { l.ErrorContext(ctx, "boom", "trace_id", "explicit") },
			wantTrace: "explicit",
			check: func(t *testing.T, _ map[string]any, raw string) {
				if n := strings.Count(raw, `"trace_id"`); n != 1 {
					t.Errorf("trace_id appears %d times: %s", n, raw)
				}
			},
		},
		{
			name: "survives WithAttrs", ctx: withSpan,
			log:       func(l *slog.Logger, ctx context.Context) { l.With("service", "customer").InfoContext(ctx, "hello") },
			wantTrace: traceID, wantSpan: spanID,
			check: func(t *testing.T, m map[string]any, _ string) {
				if m["service"] != "customer" {
					t.Errorf("service = %v", m["service"])
				}
			},
		},
		{
			name: "under WithGroup the ids are grouped", ctx: withSpan,
			log: func(l *slog.Logger, ctx context.Context) { l.WithGroup("rpc").InfoContext(ctx, "hello") },
			check: func(t *testing.T, m map[string]any, _ string) {
				g, _ := m["rpc"].(map[string]any)
				if g["trace_id"] != traceID {
					t.Errorf("rpc group = %v", m["rpc"])
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			tt.log(slog.New(NewTraceHandler(slog.NewJSONHandler(&buf, nil))), tt.ctx)
			m := decode(t, &buf)
			if got, _ := m["trace_id"].(string); got != tt.wantTrace {
				t.Errorf("trace_id = %q, want %q", got, tt.wantTrace)
			}
			if got, _ := m["span_id"].(string); got != tt.wantSpan {
				t.Errorf("span_id = %q, want %q", got, tt.wantSpan)
			}
			if tt.check != nil {
				tt.check(t, m, buf.String())
			}
		})
	}
}

func TestNewLogger(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, format, level string
		json                bool
		debug, info, warn   bool
	}{
		{"defaults: text at info", "", "", false, false, true, true},
		{"json debug", "json", "debug", true, true, true, true},
		{"JSON upper case, warn", "JSON", "WARN", true, false, false, true},
		{"unreadable level falls back to info", "text", "verbose", false, false, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			l := newLogger(&buf, "customer", tt.format, tt.level)
			ctx := context.Background()
			if l.Enabled(ctx, slog.LevelDebug) != tt.debug || l.Enabled(ctx, slog.LevelInfo) != tt.info || l.Enabled(ctx, slog.LevelWarn) != tt.warn {
				t.Errorf("levels: debug %v info %v warn %v", l.Enabled(ctx, slog.LevelDebug), l.Enabled(ctx, slog.LevelInfo), l.Enabled(ctx, slog.LevelWarn))
			}
			l.WarnContext(trace.ContextWithSpanContext(ctx, testSpan), "msg")
			out := buf.String()
			if tt.json {
				m := decode(t, &buf)
				if m["service"] != "customer" || m["trace_id"] != testSpan.TraceID().String() {
					t.Errorf("record = %v", m)
				}
			} else if !strings.Contains(out, "service=customer") || !strings.Contains(out, "trace_id="+testSpan.TraceID().String()) {
				t.Errorf("record = %q", out)
			}
		})
	}
}

// Setup changes process-wide state, so the tests below are not parallel.

func TestSetupWithoutExporter(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "")
	ctx := context.Background()
	shutdown, err := Setup(ctx, "customer", "test")
	if err != nil {
		t.Fatal(err)
	}
	tracer := otel.Tracer("test")
	propagator := otel.GetTextMapPropagator()

	// A trace that starts here gets ids, but nothing is recorded.
	rootCtx, root := tracer.Start(ctx, "op")
	if !root.SpanContext().IsValid() || root.IsRecording() {
		t.Errorf("root span: context %+v, recording %v; want valid ids, not recording", root.SpanContext(), root.IsRecording())
	}
	carrier := propagation.MapCarrier{}
	propagator.Inject(rootCtx, carrier)
	if tp := carrier.Get("traceparent"); !strings.Contains(tp, root.SpanContext().TraceID().String()) {
		t.Errorf("traceparent = %q", tp)
	}
	root.End()

	// A caller's trace continues: same trace id, a span id of our own, passed on downstream.
	incoming := propagator.Extract(ctx, propagation.MapCarrier{"traceparent": "00-" + testSpan.TraceID().String() + "-" + testSpan.SpanID().String() + "-01"})
	childCtx, child := tracer.Start(incoming, "op")
	sc := child.SpanContext()
	if sc.TraceID() != testSpan.TraceID() || !sc.SpanID().IsValid() || sc.SpanID() == testSpan.SpanID() || child.IsRecording() {
		t.Errorf("child span: context %+v, recording %v; want the caller's trace, a new span id, not recording", sc, child.IsRecording())
	}
	carrier = propagation.MapCarrier{}
	propagator.Inject(childCtx, carrier)
	if want := "00-" + testSpan.TraceID().String() + "-" + sc.SpanID().String() + "-00"; carrier.Get("traceparent") != want {
		t.Errorf("traceparent = %q, want %q", carrier.Get("traceparent"), want)
	}
	child.End()

	if err := shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// collector is a minimal OTLP/gRPC receiver.
type collector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu      sync.Mutex
	traces  []*coltracepb.ExportTraceServiceRequest
	metrics []*colmetricpb.ExportMetricsServiceRequest
}

func (c *collector) Export(_ context.Context, r *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.traces = append(c.traces, r)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

type metricsReceiver struct {
	colmetricpb.UnimplementedMetricsServiceServer
	c *collector
}

func (m metricsReceiver) Export(_ context.Context, r *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	m.c.metrics = append(m.c.metrics, r)
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

func TestSetupExportsOverOTLP(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, col)
	colmetricpb.RegisterMetricsServiceServer(srv, metricsReceiver{c: col})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+lis.Addr().String())
	t.Setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
	t.Setenv("OTEL_SERVICE_NAME", "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	shutdown, err := Setup(ctx, "customer", "v1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	_, span := otel.Tracer("test").Start(ctx, "CreateCustomer")
	span.End()
	counter, err := otel.Meter("test").Int64Counter("crm.test.calls")
	if err != nil {
		t.Fatal(err)
	}
	counter.Add(ctx, 1)
	if err := shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	col.mu.Lock()
	defer col.mu.Unlock()
	var spanNames, services, metricNames []string
	for _, r := range col.traces {
		for _, rs := range r.GetResourceSpans() {
			for _, a := range rs.GetResource().GetAttributes() {
				if a.GetKey() == "service.name" {
					services = append(services, a.GetValue().GetStringValue())
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					spanNames = append(spanNames, s.GetName())
				}
			}
		}
	}
	for _, r := range col.metrics {
		for _, rm := range r.GetResourceMetrics() {
			for _, sm := range rm.GetScopeMetrics() {
				for _, m := range sm.GetMetrics() {
					metricNames = append(metricNames, m.GetName())
				}
			}
		}
	}
	if len(spanNames) != 1 || spanNames[0] != "CreateCustomer" || len(services) != 1 || services[0] != "customer" {
		t.Errorf("exported spans %v from services %v", spanNames, services)
	}
	if !strings.Contains(strings.Join(metricNames, ","), "crm.test.calls") {
		t.Errorf("exported metrics %v", metricNames)
	}
}
