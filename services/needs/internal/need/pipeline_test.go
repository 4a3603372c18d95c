package need

import (
	"errors"
	"math"
	"testing"
)

func TestProbabilities(t *testing.T) {
	t.Parallel()
	want := map[Stage]int64{StageInitial: 10, StageConfirmed: 20, StageProposal: 40, StageQuotation: 60,
		StageNegotiation: 80, StageWon: 100, StageLost: 0}
	for _, s := range Stages {
		if got := s.Probability(); got != want[s] {
			t.Errorf("%s: %d %%, want %d %%", s, got, want[s])
		}
	}
}

func TestWeightedRoundsHalfUpToTheFen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		amount int64
		stage  Stage
		want   int64
	}{
		{0, StageNegotiation, 0},
		{1, StageInitial, 0},       // 0.1 fen
		{5, StageInitial, 1},       // 0.5 fen rounds up
		{4, StageInitial, 0},       // 0.4 fen
		{15, StageInitial, 2},      // 1.5 fen
		{125, StageProposal, 50},   // exactly 50 fen
		{99, StageQuotation, 59},   // 59.4 fen
		{199, StageQuotation, 119}, // 119.4
		{1_000_000_00, StageNegotiation, 800_000_00},
		{1_234_567_89, StageWon, 1_234_567_89},
		{1_234_567_89, StageLost, 0},
		{math.MaxInt64, StageNegotiation, 7378697629483820646}, // 7378697629483820645.6 → …646, no overflow
	}
	for _, tt := range tests {
		if got := Weighted(tt.amount, tt.stage); got != tt.want {
			t.Errorf("Weighted(%d, %s) = %d, want %d", tt.amount, tt.stage, got, tt.want)
		}
	}
}

func TestBuildPipeline(t *testing.T) {
	t.Parallel()
	rows := []PipelineRow{
		{OwnerID: "u-b", Stage: StageInitial, Count: 2, AmountFen: 100_000_00},
		{OwnerID: "u-a", Stage: StageInitial, Count: 1, AmountFen: 33_333_33},
		{OwnerID: "u-a", Stage: StageNegotiation, Count: 3, AmountFen: 500_000_01},
		{OwnerID: "u-b", Stage: StageWon, Count: 1, AmountFen: 88_888_88},
		{OwnerID: "u-a", Stage: StageLost, Count: 4, AmountFen: 1_000_000_00},
		{OwnerID: "u-a", Stage: StageQuotation, Count: 1, AmountFen: 0},
	}
	p, err := BuildPipeline(rows, true)
	if err != nil {
		t.Fatal(err)
	}
	// initial: 133,333.33 yuan → 10 % = 13,333.333 → 1,333,333 fen; negotiation 500,000.01 → 80 %
	// = 400,000.008 → 40,000,001 fen; won 88,888.88 in full; lost 0.
	wantStages := []StageFigures{
		{StageInitial, 10, 3, 133_333_33, 13_333_33},
		{StageConfirmed, 20, 0, 0, 0},
		{StageProposal, 40, 0, 0, 0},
		{StageQuotation, 60, 1, 0, 0},
		{StageNegotiation, 80, 3, 500_000_01, 400_000_01},
		{StageWon, 100, 1, 88_888_88, 88_888_88},
		{StageLost, 0, 4, 1_000_000_00, 0},
	}
	for i, w := range wantStages {
		if p.Stages[i] != w {
			t.Errorf("stage %d = %+v, want %+v", i, p.Stages[i], w)
		}
	}
	if p.OpenCount != 7 || p.OpenAmountFen != 633_333_34 || p.WeightedFen != 13_333_33+400_000_01+88_888_88 {
		t.Errorf("totals = %d %d %d", p.OpenCount, p.OpenAmountFen, p.WeightedFen)
	}
	if len(p.Owners) != 2 || p.Owners[0].OwnerID != "u-a" || p.Owners[1].OwnerID != "u-b" {
		t.Fatalf("owners = %+v", p.Owners)
	}
	a, b := p.Owners[0], p.Owners[1]
	// u-a: initial 33,333.33 → 3,333.333 → 333,333 fen; negotiation 40,000,001 fen.
	if a.OpenCount != 5 || a.OpenAmountFen != 533_333_34 || a.WeightedFen != 3_333_33+400_000_01 || a.Stages[6].Count != 4 {
		t.Errorf("u-a = %+v", a.Figures)
	}
	if b.OpenCount != 2 || b.OpenAmountFen != 100_000_00 || b.WeightedFen != 10_000_00+88_888_88 || b.Stages[5].Count != 1 {
		t.Errorf("u-b = %+v", b.Figures)
	}

	if p, err := BuildPipeline(rows, false); err != nil || len(p.Owners) != 0 || p.WeightedFen != 502_222_22 {
		t.Fatalf("without owners: %+v %v", p, err)
	}
	if p, err := BuildPipeline(nil, true); err != nil || len(p.Stages) != 7 || p.OpenCount != 0 || len(p.Owners) != 0 {
		t.Fatalf("empty pipeline: %+v %v", p, err)
	}
}

func TestBuildPipelineRefusesBadRows(t *testing.T) {
	t.Parallel()
	for name, rows := range map[string][]PipelineRow{
		"unknown stage":   {{Stage: "signed", Count: 1}},
		"negative amount": {{Stage: StageWon, Count: 1, AmountFen: -1}},
		"overflow":        {{OwnerID: "a", Stage: StageWon, Count: 1, AmountFen: math.MaxInt64}, {OwnerID: "b", Stage: StageWon, Count: 1, AmountFen: 1}},
	} {
		if _, err := BuildPipeline(rows, false); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	_, err := BuildPipeline([]PipelineRow{{Stage: StageWon, AmountFen: math.MaxInt64}, {Stage: StageInitial, AmountFen: math.MaxInt64}}, false)
	if !errors.Is(err, ErrAmountOverflow) {
		t.Fatalf("weighted overflow: %v", err)
	}
}
