package need

import (
	"errors"
	"math"
	"slices"
	"strings"
)

// PipelineRow is one group of needs as the store counts them: an owner's needs in one stage.
type PipelineRow struct {
	OwnerID string
	Stage   Stage
	Count   int64
	// AmountFen is the sum of the group's expected amounts (needs without one add nothing).
	AmountFen int64
}

// StageFigures are the pipeline figures of one stage.
type StageFigures struct {
	Stage              Stage
	ProbabilityPercent int64
	Count              int64
	AmountFen          int64
	// WeightedFen is AmountFen × probability, rounded half up to the fen.
	WeightedFen int64
}

// Figures are the figures of a pipeline: one row per stage in pipeline order (empty ones included)
// and the totals.
type Figures struct {
	Stages        []StageFigures
	OpenCount     int64
	OpenAmountFen int64
	// WeightedFen is the weighted forecast: the sum of the stages' weighted amounts.
	WeightedFen int64
}

// OwnerFigures are one owner's pipeline figures.
type OwnerFigures struct {
	OwnerID string
	Figures
}

// Pipeline is the whole pipeline and, when asked, its break-down per owner.
type Pipeline struct {
	Figures
	Owners []OwnerFigures
}

// ErrAmountOverflow is returned when a sum leaves the int64 range of fen (about 92 万亿 yuan):
// never for real data, but the arithmetic refuses rather than wraps.
var ErrAmountOverflow = errors.New("pipeline amount out of range")

// Weighted returns amountFen × the stage's probability, rounded half up to the fen. It is exact
// integer arithmetic without overflow for any non-negative amount: the amount is split into
// whole yuan and the remaining fen before multiplying by the percentage.
func Weighted(amountFen int64, s Stage) int64 {
	p := s.Probability()
	q, r := amountFen/100, amountFen%100
	return q*p + (r*p+50)/100
}

// BuildPipeline sums the store's rows into pipeline figures, per owner when byOwner is set. Rows
// of unknown stages are refused; amounts must not be negative.
func BuildPipeline(rows []PipelineRow, byOwner bool) (Pipeline, error) {
	type key struct {
		owner string
		stage Stage
	}
	total := map[Stage]PipelineRow{}
	perOwner := map[key]PipelineRow{}
	var owners []string
	for _, r := range rows {
		if !r.Stage.Valid() {
			return Pipeline{}, errors.New("pipeline: unknown stage " + string(r.Stage))
		}
		if r.Count < 0 || r.AmountFen < 0 {
			return Pipeline{}, errors.New("pipeline: negative count or amount")
		}
		t := total[r.Stage]
		var err error
		if t, err = addRow(t, r); err != nil {
			return Pipeline{}, err
		}
		total[r.Stage] = t
		if byOwner {
			k := key{r.OwnerID, r.Stage}
			o := perOwner[k]
			if o, err = addRow(o, r); err != nil {
				return Pipeline{}, err
			}
			perOwner[k] = o
			if !slices.Contains(owners, r.OwnerID) {
				owners = append(owners, r.OwnerID)
			}
		}
	}
	p := Pipeline{}
	var err error
	if p.Figures, err = figures(func(s Stage) PipelineRow { return total[s] }); err != nil {
		return Pipeline{}, err
	}
	slices.SortFunc(owners, strings.Compare)
	for _, o := range owners {
		f, err := figures(func(s Stage) PipelineRow { return perOwner[key{o, s}] })
		if err != nil {
			return Pipeline{}, err
		}
		p.Owners = append(p.Owners, OwnerFigures{OwnerID: o, Figures: f})
	}
	return p, nil
}

func addRow(acc, r PipelineRow) (PipelineRow, error) {
	var err error
	if acc.Count, err = add(acc.Count, r.Count); err != nil {
		return acc, err
	}
	acc.AmountFen, err = add(acc.AmountFen, r.AmountFen)
	return acc, err
}

// figures lays out one row per stage and sums the totals.
func figures(row func(Stage) PipelineRow) (Figures, error) {
	var f Figures
	var err error
	for _, s := range Stages {
		r := row(s)
		sf := StageFigures{Stage: s, ProbabilityPercent: s.Probability(), Count: r.Count, AmountFen: r.AmountFen,
			WeightedFen: Weighted(r.AmountFen, s)}
		f.Stages = append(f.Stages, sf)
		if s.Open() {
			if f.OpenCount, err = add(f.OpenCount, sf.Count); err != nil {
				return f, err
			}
			if f.OpenAmountFen, err = add(f.OpenAmountFen, sf.AmountFen); err != nil {
				return f, err
			}
		}
		if f.WeightedFen, err = add(f.WeightedFen, sf.WeightedFen); err != nil {
			return f, err
		}
	}
	return f, nil
}

// add adds two non-negative numbers, refusing to overflow.
func add(a, b int64) (int64, error) {
	if b > math.MaxInt64-a {
		return 0, ErrAmountOverflow
	}
	return a + b, nil
}
