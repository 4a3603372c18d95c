package procstat

import (
	"os"
	"slices"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, line string
		want       time.Duration
		wantErr    bool
	}{
		{"plain", "1234 (customer) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100 0 0", 3 * time.Second, false},
		{"name with spaces and parens", "42 (postgres: x (y)) S 1 1 1 0 -1 0 0 0 0 0 7 3 1 1 20 0", 100 * time.Millisecond, false},
		{"short", "42 (x) S 1 2", 0, true},
		{"no name", "garbage", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseStat([]byte(tt.line))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("parseStat = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestSamplerMeasuresOwnCPU(t *testing.T) {
	t.Parallel()
	s := Start([]Group{{Name: "self", Pids: []int{os.Getpid()}}}, 50*time.Millisecond)
	deadline := time.Now().Add(300 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	got := s.Stop()["self"]
	if got < 100*time.Millisecond {
		t.Fatalf("300 ms of spinning measured as %v of CPU (x=%d)", got, x)
	}
}

func TestSamplerAddsLookedUpProcesses(t *testing.T) {
	t.Parallel()
	calls := 0
	s := Start([]Group{{Name: "looked up", Lookup: func() []int {
		calls++
		if calls == 1 {
			return nil // not there yet at the first sample: counted from zero when it appears
		}
		return []int{os.Getpid()}
	}}}, 50*time.Millisecond)
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
	}
	if got := s.Stop()["looked up"]; got < 100*time.Millisecond {
		t.Fatalf("300 ms of spinning of a looked-up process measured as %v of CPU", got)
	}
}

func TestPostgresFor(t *testing.T) {
	t.Parallel()
	m := PostgresFor("crm_bench")
	tests := []struct {
		comm, cmdline string
		want          bool
	}{
		{"postgres", "postgres: 15/main: postgres crm_bench 127.0.0.1(40000) idle", true},
		{"postgres", "postgres: 15/main: postgres crm_bench_seed 127.0.0.1(40000) idle", false},
		{"postgres", "postgres: 15/main: postgres other 127.0.0.1(40000) SELECT", false},
		{"postgres", "postgres: 15/main: checkpointer", true},
		{"postgres", "postgres: 15/main: walwriter", true},
		{"postgres", "postgres: 15/main: autovacuum worker crm_bench", true},
		{"customer", "/tmp/bin/customer", false},
	}
	for _, tt := range tests {
		if got := m(tt.comm, tt.cmdline); got != tt.want {
			t.Errorf("PostgresFor(crm_bench)(%q) = %v, want %v", tt.cmdline, got, tt.want)
		}
	}
}

func TestUtilisation(t *testing.T) {
	t.Parallel()
	a := Machine{Busy: time.Second, Total: 4 * time.Second}
	b := Machine{Busy: 2 * time.Second, Total: 6 * time.Second}
	if got := Utilisation(a, b); got != 0.5 {
		t.Fatalf("Utilisation = %v, want 0.5", got)
	}
	if got := Utilisation(b, a); got != 0 {
		t.Fatalf("backwards Utilisation = %v, want 0", got)
	}
	if _, err := ReadMachine(); err != nil {
		t.Fatal(err)
	}
}

func TestParseStatLineReadsTheNameAndStart(t *testing.T) {
	t.Parallel()
	line := "42 (postgres: x (y)) S 1 1 1 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 98765 1000 10"
	name, cpu, start, err := parseStatLine([]byte(line))
	if err != nil || name != "postgres: x (y)" || cpu != 100*time.Millisecond || start != 98765 {
		t.Fatalf("parseStatLine = %q, %v, %d, %v", name, cpu, start, err)
	}
}

func TestOthersSumsByNameAndSkipsTheMeasured(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	p0 := map[int]Process{
		1: {"customer", 1000 * ms, 10},
		2: {"kworker/u8:0-events_unbound", 10 * ms, 5},
		3: {"kworker/0:1-events", 20 * ms, 5},
		4: {"beam.smp", 500 * ms, 8},
		5: {"old", 70 * ms, 9}, // exited; its pid now belongs to a new process
	}
	p1 := map[int]Process{
		1: {"customer", 3000 * ms, 10},            // measured: skipped
		2: {"kworker/u8:0-writeback", 40 * ms, 5}, // +30, under the name it has now
		3: {"kworker/u8:0-writeback", 60 * ms, 5}, // +40
		4: {"beam.smp", 500 * ms, 8},              // idle: left out
		5: {"sh", 30 * ms, 900},                   // new: counted from zero
		6: {"gzip", 90 * ms, 950},                 // started during the run
	}
	got := Others(Machine{Steal: 100 * ms}, Machine{Steal: 180 * ms}, p0, p1, map[int]bool{1: true})
	want := []Usage{{"gzip", 90 * ms}, {"steal", 80 * ms}, {"kworker/u8:0-writeback", 70 * ms}, {"sh", 30 * ms}}
	if !slices.Equal(got, want) {
		t.Fatalf("Others = %v, want %v", got, want)
	}
}

func TestReadProcessesFindsThisOne(t *testing.T) {
	t.Parallel()
	p, ok := ReadProcesses()[os.Getpid()]
	if !ok || p.Name == "" {
		t.Fatalf("this process not found: %+v", p)
	}
}
