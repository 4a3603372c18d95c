package main

import (
	"math"
	"testing"
	"time"
)

func TestShareAttributesEachSampleOnce(t *testing.T) {
	t.Parallel()
	traces := `File: gateway
Type: cpu
-----------+-------------------------------------------------------
      30ms   runtime.mallocgc
             go.opentelemetry.io/otel/sdk/trace.(*tracer).Start
             go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp.(*middleware).serveHTTP
-----------+-------------------------------------------------------
      50ms   internal/runtime/syscall/linux.Syscall6
             syscall.write
             google.golang.org/grpc/internal/transport.(*http2Client).Write
             go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp.(*middleware).serveHTTP
-----------+-------------------------------------------------------
      20ms   google.golang.org/protobuf/encoding/protojson.encoder.marshalMessage
             go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp.(*middleware).serveHTTP
-----------+-------------------------------------------------------
`
	total, shares := share(traces)
	if total != 100*time.Millisecond {
		t.Fatalf("total %v", total)
	}
	want := map[string]float64{"OpenTelemetry": 0.3, "system calls (network and file I/O, futex)": 0.5, "JSON (protojson, encoding/json)": 0.2}
	for k, v := range want {
		if math.Abs(shares[k]-v) > 1e-9 {
			t.Errorf("%s = %v, want %v (all: %v)", k, shares[k], v, shares)
		}
	}
	if len(shares) != len(want) {
		t.Errorf("shares %v", shares)
	}
}
