package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sample() Results {
	return Results{
		Command: "make bench", Started: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), Took: time.Minute,
		Machine: []Fact{{"CPU cores", "2"}},
		Targets: []Target{{Text: "get p99 < 5 ms", Measured: "p99 7 ms", Met: false, Why: "CPU"}},
		Scenarios: []Scenario{{Title: "Get", Service: []Run{{Label: "gRPC", Requests: 10, Throughput: 1000,
			Latency: Latency{P50: time.Millisecond, P99: 7 * time.Millisecond}, CPUTotal: time.Second,
			CPUPerRequest:    map[string]time.Duration{"customer": 300 * time.Microsecond, "postgres": 200 * time.Microsecond},
			PostgresByClient: map[string]time.Duration{"audit": 20 * time.Microsecond, "customer": 150 * time.Microsecond}}}}},
	}
}

func TestWriteDocKeepsEverythingOutsideTheMarkers(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	other := "## Import and export\n\nTheir figures.\n"
	tests := []struct {
		name, before string
		keep         []string
	}{
		{"new file", "", nil},
		{"someone else's section only", "# Benchmarks\n\n" + other, []string{other}},
		{"earlier run plus analysis", "# Benchmarks\n\nIntro.\n\n" + Begin + "\nold figures\n" + End + "\n\n## Analysis\n\nMine.\n\n" + other,
			[]string{"Intro.", "## Analysis\n\nMine.", other}},
	}
	for _, tt := range tests {
		if tt.before != "" {
			if err := os.WriteFile(path, []byte(tt.before), 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			os.Remove(path)
		}
		if err := WriteDoc(path, sample()); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		doc := string(b)
		for _, k := range tt.keep {
			if !strings.Contains(doc, k) {
				t.Errorf("%s: lost %q:\n%s", tt.name, k, doc)
			}
		}
		if strings.Contains(doc, "old figures") || strings.Count(doc, Begin) != 1 || strings.Count(doc, End) != 1 {
			t.Errorf("%s: markers or old figures wrong:\n%s", tt.name, doc)
		}
		if !strings.Contains(doc, "| get p99 < 5 ms | p99 7 ms | **no**: CPU |") {
			t.Errorf("%s: target row missing:\n%s", tt.name, doc)
		}
		// Writing again changes nothing outside the markers.
		if err := WriteDoc(path, sample()); err != nil {
			t.Fatal(err)
		}
		b2, _ := os.ReadFile(path)
		if string(b2) != doc {
			t.Errorf("%s: second write differs", tt.name)
		}
	}
}

func TestRowFormatsCPUAndLatency(t *testing.T) {
	t.Parallel()
	md := Markdown(sample())
	for _, want := range []string{"| gRPC | 10 | 0 | 1000 | 1.00 | – | 7.00 |", "0.50 ms (customer 0.30 ms, postgres 0.20 ms)",
		"by client (its connections' application_name): gRPC: customer 0.15 ms, audit 0.02 ms, shared processes and others 0.03 ms."} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q in:\n%s", want, md)
		}
	}
}

func TestRowNamesTheLargestPartsOfOtherWork(t *testing.T) {
	t.Parallel()
	r := Run{Requests: 1, MachineBusy: 0.65, OtherBusy: 0.25, OtherParts: []Part{
		{"kworker/u8:0-writeback", 0.10}, {"kdamond.0", 0.08}, {"kworker/u8:1", 0.03}, {"beam.smp", 0.02}, {"redis-server", 0.005}}}
	if got, want := row(r), "65% (other work 25%: kworker/u8:0-writeback 10%, kdamond.0 8%, kworker/u8:1 3%)"; !strings.Contains(got, want) {
		t.Errorf("row = %q, want it to contain %q", got, want)
	}
	r.OtherParts = []Part{{"redis-server", 0.005}}
	if got, want := row(r), "65% (other work 25%) "; !strings.Contains(got, want) {
		t.Errorf("row = %q, want it to contain %q (parts under 1%% left out)", got, want)
	}
	r.OtherBusy = 0.04
	if got := row(r); strings.Contains(got, "other work") {
		t.Errorf("row = %q: other work under 5%% is not worth a mention", got)
	}
}
