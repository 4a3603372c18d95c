package server

import (
	"context"
	"strings"

	"google.golang.org/genproto/googleapis/type/money"

	"github.com/crmsuite/crm/pkg/validate"
	needsv1 "github.com/crmsuite/crm/proto/gen/go/crm/needs/v1"
	"github.com/crmsuite/crm/services/needs/internal/need"
	"github.com/crmsuite/crm/services/needs/internal/store"
)

// GetPipeline sums the pipeline of the needs the caller may see. The owner and team parameters
// narrow the caller's reach; they never widen it.
func (s *Server) GetPipeline(ctx context.Context, req *needsv1.GetPipelineRequest) (*needsv1.Pipeline, error) {
	_, reach := caller(ctx)
	var v validate.Collector
	in := store.PipelineInput{Reach: reach, OwnerID: strings.TrimSpace(req.GetOwnerId()), TeamID: strings.TrimSpace(req.GetTeamId()),
		CloseFrom: fromDate(req.GetExpectedCloseDateFrom()), CloseTo: fromDate(req.GetExpectedCloseDateTo())}
	for _, f := range []struct {
		name string
		val  string
	}{{"owner_id", in.OwnerID}, {"team_id", in.TeamID}} {
		if validate.RuneLen(f.val) > 64 {
			v.Add(f.name, validate.ReasonTooLong, validate.TooLongMessage(f.name, f.name, 64))
		}
	}
	for _, d := range []struct {
		name string
		date *need.Date
	}{{"expected_close_date_from", in.CloseFrom}, {"expected_close_date_to", in.CloseTo}} {
		if d.date != nil && !d.date.Valid() {
			v.Add(d.name, validate.ReasonInvalidFormat, validate.Message{ZH: "日期无效", EN: "not a valid date"})
		}
	}
	if v.Len() == 0 && in.CloseFrom != nil && in.CloseTo != nil && in.CloseFrom.Time().After(in.CloseTo.Time()) {
		v.Add("expected_close_date_from", validate.ReasonOutOfRange, validate.Message{
			ZH: "起始日期不能晚于截止日期", EN: "expected_close_date_from must not be after expected_close_date_to"})
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	rows, err := s.store.Pipeline(ctx, in)
	if err != nil {
		return nil, mapError(err, "")
	}
	p, err := need.BuildPipeline(rows, req.GetGroupByOwner())
	if err != nil {
		return nil, err
	}
	out := &needsv1.Pipeline{}
	out.Stages, out.OpenCount, out.OpenAmount, out.WeightedForecast = figuresToProto(p.Figures)
	for _, o := range p.Owners {
		op := &needsv1.OwnerPipeline{OwnerId: o.OwnerID}
		op.Stages, op.OpenCount, op.OpenAmount, op.WeightedForecast = figuresToProto(o.Figures)
		out.Owners = append(out.Owners, op)
	}
	return out, nil
}

func figuresToProto(f need.Figures) ([]*needsv1.PipelineStage, int64, *money.Money, *money.Money) {
	stages := make([]*needsv1.PipelineStage, 0, len(f.Stages))
	for _, s := range f.Stages {
		stages = append(stages, &needsv1.PipelineStage{Stage: stageToProto[s.Stage], ProbabilityPercent: int32(s.ProbabilityPercent),
			Count: s.Count, Amount: yuanMoney(s.AmountFen), WeightedAmount: yuanMoney(s.WeightedFen)})
	}
	return stages, f.OpenCount, yuanMoney(f.OpenAmountFen), yuanMoney(f.WeightedFen)
}
