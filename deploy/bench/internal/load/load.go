// Package load generates request load and measures it: an open model (requests start at a fixed
// rate whatever the server does, latency counted from when each request was due, so a slow server
// cannot hide its queue: no coordinated omission) and a closed model (a fixed number of workers
// each sending the next request when the last returns, for the highest rate the server sustains).
// Latencies are kept whole and percentiles are exact, not bucketed.
//
// It knows nothing of gRPC, HTTP or the CRM: a request is a func.
package load

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Request sends request number i and reports its failure. The error's text is counted as its
// kind (keep it short and stable, e.g. a gRPC code or an HTTP status).
type Request func(ctx context.Context, i int) error

// Result is what one run measured.
type Result struct {
	// Model is "open" or "closed"; Rate the target rate of an open run; Workers the concurrency of
	// a closed run (or the in-flight cap of an open one).
	Model   string
	Rate    float64
	Workers int
	// Elapsed is from the first request's start to the last one's end.
	Elapsed time.Duration
	// Requests counts the finished requests, Errors the failed ones among them.
	Requests, Errors int
	// ErrorKinds counts the errors by their text.
	ErrorKinds map[string]int
	// Latencies of the successful requests, sorted ascending.
	Latencies []time.Duration
	// Late counts open-model requests that started more than 1 ms after they were due because
	// the in-flight cap was reached (queueing on the client side, included in their latency).
	Late int
}

// Throughput is successful requests per second over the run.
func (r Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests-r.Errors) / r.Elapsed.Seconds()
}

// Percentile returns the latency below which the fraction p (0–1) of successful requests
// finished (nearest rank), 0 without any.
func (r Result) Percentile(p float64) time.Duration {
	n := len(r.Latencies)
	if n == 0 {
		return 0
	}
	i := int(float64(n)*p+0.999999) - 1
	return r.Latencies[min(max(i, 0), n-1)]
}

// Max is the slowest successful request.
func (r Result) Max() time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	return r.Latencies[len(r.Latencies)-1]
}

// ErrorSummary lists the error kinds, most frequent first: "Unavailable×3, 500×1".
func (r Result) ErrorSummary() string {
	kinds := make([]string, 0, len(r.ErrorKinds))
	for k := range r.ErrorKinds {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		if r.ErrorKinds[kinds[i]] != r.ErrorKinds[kinds[j]] {
			return r.ErrorKinds[kinds[i]] > r.ErrorKinds[kinds[j]]
		}
		return kinds[i] < kinds[j]
	})
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s×%d", k, r.ErrorKinds[k])
	}
	return strings.Join(parts, ", ")
}

// recorder collects outcomes from many goroutines.
type recorder struct {
	mu        sync.Mutex
	lat       []time.Duration
	errs      map[string]int
	nerr, n   int
	late      int
	lastEnded time.Time
}

func newRecorder(capacity int) *recorder {
	return &recorder{lat: make([]time.Duration, 0, capacity), errs: map[string]int{}}
}

func (rc *recorder) record(d time.Duration, err error, end time.Time) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.n++
	if end.After(rc.lastEnded) {
		rc.lastEnded = end
	}
	if err != nil {
		rc.nerr++
		rc.errs[errorKind(err)]++
		return
	}
	rc.lat = append(rc.lat, d)
}

func errorKind(err error) string {
	s := err.Error()
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

func (rc *recorder) result(model string, start time.Time) Result {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	lat := slices.Clone(rc.lat)
	slices.Sort(lat)
	elapsed := rc.lastEnded.Sub(start)
	return Result{Model: model, Elapsed: elapsed, Requests: rc.n, Errors: rc.nerr, ErrorKinds: rc.errs,
		Latencies: lat, Late: rc.late}
}

// Open starts requests at rate per second for d, at most maxInFlight at a time, and waits for
// them to finish. Each request's latency runs from the moment it was due, so time spent waiting
// for a free slot counts. A request still running 30 s after the run ends is cancelled and counts
// as an error.
func Open(ctx context.Context, rate float64, d time.Duration, maxInFlight int, req Request) Result {
	total := int(rate * d.Seconds())
	rc := newRecorder(total)
	slots := make(chan struct{}, maxInFlight)
	rctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	interval := time.Duration(float64(time.Second) / rate)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range total {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		if time.Since(due) > time.Millisecond {
			rc.mu.Lock()
			rc.late++
			rc.mu.Unlock()
		}
		wg.Go(func() {
			defer func() { <-slots }()
			err := req(rctx, i)
			end := time.Now()
			rc.record(end.Sub(due), err, end)
		})
	}
	wg.Wait()
	r := rc.result("open", start)
	r.Rate, r.Workers = rate, maxInFlight
	return r
}

// Closed runs workers goroutines that each send requests back to back for d and returns when
// the last one has finished. Request numbers are unique across workers.
func Closed(ctx context.Context, workers int, d time.Duration, req Request) Result {
	rc := newRecorder(1 << 16)
	rctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	var next int
	var mu sync.Mutex
	take := func() int {
		mu.Lock()
		defer mu.Unlock()
		next++
		return next - 1
	}
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				i := take()
				t := time.Now()
				err := req(rctx, i)
				end := time.Now()
				rc.record(end.Sub(t), err, end)
			}
		})
	}
	wg.Wait()
	r := rc.result("closed", start)
	r.Workers = workers
	return r
}
