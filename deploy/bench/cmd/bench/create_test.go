package main

import (
	"strings"
	"testing"

	"github.com/crmsuite/crm/deploy/bench/internal/report"
)

func TestCreateTargetsTakeTheMedianRound(t *testing.T) {
	t.Parallel()
	round := func(grpc, rest, limit float64) createRound {
		return createRound{GRPC: report.Run{Throughput: grpc}, REST: report.Run{Throughput: rest}, Limit: report.Run{Throughput: limit}}
	}
	// gRPC ÷ pgbench per round: 0.40, 0.55, 0.60; REST ÷ gRPC: 0.60, 0.80, 0.75. A ratio of the
	// totals (2,300 / 4,400 = 0.52 and 1,635 / 2,300 = 0.71) would read differently from the
	// median round, and so would any one round.
	rounds := []createRound{round(800, 480, 2000), round(1100, 880, 2000), round(400, 300, 400/0.6)}
	got := createTargets(rounds)
	if len(got) != 2 {
		t.Fatalf("createTargets gave %d targets, want 2", len(got))
	}
	if g := got[0]; !g.Met || !strings.HasPrefix(g.Measured, "0.55, median of 3 rounds (0.40–0.60): gRPC 400–1100/s, pgbench 667–2000 tps") {
		t.Errorf("gRPC target = %+v, want met at the median 0.55", g)
	}
	if r := got[1]; !r.Met || !strings.HasPrefix(r.Measured, "0.75, median of 3 rounds (0.60–0.80): REST 300–880/s") {
		t.Errorf("REST target = %+v, want met at the median 0.75", r)
	}
	slow := []createRound{round(800, 480, 2000), round(700, 480, 2000), round(1100, 880, 2000)}
	got = createTargets(slow)
	if got[0].Met || got[1].Met {
		t.Errorf("targets with medians 0.40 and 0.69 = %+v, want neither met", got)
	}
	if createTargets(nil) != nil {
		t.Error("createTargets without rounds gave targets; the create scenario did not run")
	}
}

func TestMedian(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		in := append([]float64(nil), c.in...)
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Errorf("median reordered its argument: %v, was %v", c.in, in)
			}
		}
	}
}
