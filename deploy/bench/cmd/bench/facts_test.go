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
