package main

import (
	"testing"

	"github.com/crmsuite/crm/deploy/bench/internal/report"
)

func TestStealIsNamedOnlyWhenItMatters(t *testing.T) {
	t.Parallel()
	quiet := report.Run{OtherParts: []report.Part{{Name: "kdamond.0", Share: 0.30}, {Name: "steal", Share: 0.04}}}
	stolen := report.Run{OtherParts: []report.Part{{Name: "steal", Share: 0.42}}}
	if got := steal(quiet); got != "" {
		t.Errorf("steal(quiet) = %q, want nothing (4 %%; other processes are not steal)", got)
	}
	if got, want := steal(quiet, stolen), " (steal 42% of the machine)"; got != want {
		t.Errorf("steal = %q, want %q (the most of the runs)", got, want)
	}
}

func TestLimitTailNamesPgbenchsOwnP99(t *testing.T) {
	t.Parallel()
	f := map[string]report.Run{
		"get-limit-before": {Throughput: 996, Latency: report.Latency{P99: 4_600_000}},
		"get-limit-after":  {Throughput: 1004, Latency: report.Latency{P99: 5_120_000}},
	}
	if got, want := getLimitTail(f), "; pgbench's own p99 at 1000/s right before and after: 4.60 and 5.12 ms"; got != want {
		t.Errorf("getLimitTail = %q, want %q", got, want)
	}
	delete(f, "get-limit-after")
	if got := getLimitTail(f); got != "" {
		t.Errorf("getLimitTail without the run after = %q, want nothing", got)
	}
}
