package pgbench

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestReadLogs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prefix := filepath.Join(dir, "get-log")
	// client_id transaction_no time script_no time_epoch time_us [schedule_lag]
	files := map[string]string{
		prefix + ".100":   "0 0 1500 0 1700000000 1 200\n0 1 2500 0 1700000000 2 0\n",
		prefix + ".100.1": "1 0 failed 0 1700000000 3 0\n1 1 500 0 1700000000 4 100\n",
	}
	for name, body := range files {
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := readLogs(prefix, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{600 * time.Microsecond, 1700 * time.Microsecond, 2500 * time.Microsecond}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v (lag added when throttled, failed skipped, sorted)", got, want)
		}
	}
	if left, _ := filepath.Glob(prefix + ".*"); len(left) != 0 {
		t.Fatalf("logs not removed: %v", left)
	}
	r := Result{Latencies: got}
	if r.Percentile(0.5) != 1700*time.Microsecond {
		t.Fatalf("p50 %v", r.Percentile(0.5))
	}
}
