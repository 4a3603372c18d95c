package load

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	t.Parallel()
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	r := Result{Latencies: lat}
	tests := []struct {
		p    float64
		want time.Duration
	}{
		{0.50, 50 * time.Millisecond},
		{0.95, 95 * time.Millisecond},
		{0.99, 99 * time.Millisecond},
		{1, 100 * time.Millisecond},
		{0, time.Millisecond},
	}
	for _, tt := range tests {
		if got := r.Percentile(tt.p); got != tt.want {
			t.Errorf("Percentile(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := (Result{}).Percentile(0.5); got != 0 {
		t.Errorf("empty Percentile = %v, want 0", got)
	}
}

func TestOpenKeepsTheRateAndCountsQueueing(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	// 200/s for 0.5 s against a server that takes 20 ms and serves one at a time: the requests
	// queue behind the single slot, and their latency must show it.
	r := Open(context.Background(), 200, 500*time.Millisecond, 1, func(ctx context.Context, i int) error {
		calls.Add(1)
		time.Sleep(20 * time.Millisecond)
		return nil
	})
	if r.Requests != 100 || calls.Load() != 100 {
		t.Fatalf("requests = %d (calls %d), want 100", r.Requests, calls.Load())
	}
	if r.Late == 0 {
		t.Errorf("no late starts counted behind a single slot")
	}
	// The last request was due at ~0.5 s but could only start after 99 × 20 ms ≈ 2 s.
	if r.Max() < time.Second {
		t.Errorf("max latency %v hides the queue (coordinated omission)", r.Max())
	}
}

func TestOpenFastServerHasNoQueue(t *testing.T) {
	t.Parallel()
	r := Open(context.Background(), 100, 300*time.Millisecond, 50, func(ctx context.Context, i int) error { return nil })
	if r.Requests != 30 || r.Errors != 0 {
		t.Fatalf("requests %d errors %d, want 30 and 0", r.Requests, r.Errors)
	}
	if r.Percentile(0.5) > 20*time.Millisecond {
		t.Errorf("p50 %v for a no-op request", r.Percentile(0.5))
	}
	if tp := r.Throughput(); tp < 80 || tp > 125 {
		t.Errorf("throughput %.0f/s, want about 100", tp)
	}
}

func TestClosedCountsErrorsByKind(t *testing.T) {
	t.Parallel()
	seen := map[int]bool{}
	var mu = make(chan struct{}, 1)
	r := Closed(context.Background(), 4, 100*time.Millisecond, func(ctx context.Context, i int) error {
		mu <- struct{}{}
		dup := seen[i]
		seen[i] = true
		<-mu
		if dup {
			t.Errorf("request number %d handed out twice", i)
		}
		time.Sleep(time.Millisecond)
		if i%3 == 0 {
			return errors.New("Unavailable")
		}
		return nil
	})
	if r.Requests == 0 || r.Errors == 0 {
		t.Fatalf("requests %d errors %d", r.Requests, r.Errors)
	}
	if r.ErrorKinds["Unavailable"] != r.Errors || r.ErrorSummary() != "Unavailable×"+itoa(r.Errors) {
		t.Errorf("kinds %v summary %q", r.ErrorKinds, r.ErrorSummary())
	}
	if len(r.Latencies) != r.Requests-r.Errors {
		t.Errorf("%d latencies for %d successes", len(r.Latencies), r.Requests-r.Errors)
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
