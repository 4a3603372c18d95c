package need

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crmsuite/crm/pkg/validate"
)

// Stage is 商机阶段, the stage of the sales pipeline.
type Stage string

// Pipeline stages: five open ones in order, then the two that close a need.
const (
	StageInitial     Stage = "initial"     // 初步接洽
	StageConfirmed   Stage = "confirmed"   // 需求确认
	StageProposal    Stage = "proposal"    // 方案制定
	StageQuotation   Stage = "quotation"   // 报价
	StageNegotiation Stage = "negotiation" // 商务谈判
	StageWon         Stage = "won"         // 成交
	StageLost        Stage = "lost"        // 流失
)

// Stages lists every stage in pipeline order.
var Stages = []Stage{StageInitial, StageConfirmed, StageProposal, StageQuotation, StageNegotiation, StageWon, StageLost}

// openStages are the stages of a need still being worked on, in pipeline order.
var openStages = Stages[:5]

// probabilities are the chances of winning a need in each stage, in percent, used for the weighted
// forecast. They are the usual figures of a B2B funnel; change them here only.
var probabilities = map[Stage]int64{
	StageInitial: 10, StageConfirmed: 20, StageProposal: 40, StageQuotation: 60, StageNegotiation: 80,
	StageWon: 100, StageLost: 0,
}

// stageNames are the stages' names as users know them.
var stageNames = map[Stage]validate.Message{
	StageInitial: {ZH: "初步接洽", EN: "initial"}, StageConfirmed: {ZH: "需求确认", EN: "confirmed"},
	StageProposal: {ZH: "方案制定", EN: "proposal"}, StageQuotation: {ZH: "报价", EN: "quotation"},
	StageNegotiation: {ZH: "商务谈判", EN: "negotiation"}, StageWon: {ZH: "成交", EN: "won"}, StageLost: {ZH: "流失", EN: "lost"},
}

// Valid reports whether s is a known stage.
func (s Stage) Valid() bool { return slices.Contains(Stages, s) }

// Open reports whether a need in this stage is still being worked on.
func (s Stage) Open() bool { return slices.Contains(openStages, s) }

// Closed reports whether the stage ends the need: won or lost.
func (s Stage) Closed() bool { return s == StageWon || s == StageLost }

// Probability returns the stage's chance of winning in percent (0 for an unknown stage).
func (s Stage) Probability() int64 { return probabilities[s] }

// Name returns the stage's name in both languages.
func (s Stage) Name() validate.Message {
	if m, ok := stageNames[s]; ok {
		return m
	}
	return validate.Message{ZH: string(s), EN: string(s)}
}

// CanTransition reports whether ChangeStage may move a need from one stage to another: forward or
// back by any number of steps between the open stages, to won from quotation or negotiation, to
// lost from any open stage. Nothing leaves won or lost (that is a reopen), and staying put is no
// transition.
func CanTransition(from, to Stage) bool {
	switch {
	case !from.Open() || from == to:
		return false
	case to.Open():
		return true
	case to == StageWon:
		return from == StageQuotation || from == StageNegotiation
	case to == StageLost:
		return true
	}
	return false
}

// AllowedTransitions lists, in pipeline order, where ChangeStage may move a need from a stage.
func AllowedTransitions(from Stage) []Stage {
	var out []Stage
	for _, to := range Stages {
		if CanTransition(from, to) {
			out = append(out, to)
		}
	}
	return out
}

// CanReopen reports whether ReopenNeed may move a need from one stage to another: from won or lost
// back to any open stage.
func CanReopen(from, to Stage) bool { return from.Closed() && to.Open() }

// ErrIllegalTransition is returned for a stage change the pipeline does not allow.
var ErrIllegalTransition = errors.New("illegal stage transition")

// ErrNotClosed is returned when a need that is still open is reopened.
var ErrNotClosed = errors.New("need is not won or lost")

// TransitionError names the refused stage change and where the need may go instead.
type TransitionError struct {
	From, To Stage
	Allowed  []Stage
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("stage cannot change from %s to %s", e.From, e.To)
}

func (e *TransitionError) Unwrap() error { return ErrIllegalTransition }

// Message explains the refusal to users, naming the allowed stages or the way out of a closed need.
func (e *TransitionError) Message() validate.Message {
	from, to := e.From.Name(), e.To.Name()
	m := validate.Message{
		ZH: "商机阶段不能从“" + from.ZH + "”变更为“" + to.ZH + "”",
		EN: "the stage cannot change from " + from.EN + " to " + to.EN,
	}
	switch {
	case e.From.Closed():
		m.ZH += "；已成交或已流失的商机须先重新打开（:reopen）"
		m.EN += "; a won or lost need must be reopened first (:reopen)"
	case len(e.Allowed) > 0:
		var zh, en []string
		for _, a := range e.Allowed {
			zh, en = append(zh, a.Name().ZH), append(en, a.Name().EN)
		}
		m.ZH += "；可变更为：" + strings.Join(zh, "、")
		m.EN += "; allowed: " + strings.Join(en, ", ")
	}
	return m
}

// ChangeStage moves the need to another stage, recording who and when. Moving to lost needs a
// reason, which becomes the lost reason; any reason is at most 200 characters. It returns a
// *validate.Error for bad input and a *TransitionError for a move the pipeline does not allow.
func (n *Need) ChangeStage(to Stage, reason, actor string, now time.Time) error {
	reason = strings.TrimSpace(reason)
	var v validate.Collector
	if !to.Valid() {
		v.Add("stage", validate.ReasonUnknownCode, validate.Message{ZH: "商机阶段无效", EN: "unknown stage"})
	}
	if err := ValidateReason("reason", reason, to == StageLost); err != nil {
		mergeInto(&v, err)
	}
	if err := v.Err(); err != nil {
		return err
	}
	if !CanTransition(n.Stage, to) {
		return &TransitionError{From: n.Stage, To: to, Allowed: AllowedTransitions(n.Stage)}
	}
	n.Stage = to
	n.LostReason = ""
	if to == StageLost {
		n.LostReason = reason
	}
	n.StageChangedAt, n.StageChangedBy = now, actor
	return nil
}

// Reopen moves a won or lost need back to an open stage, with a reason (required, at most 200
// characters). The lost reason is cleared; the stage history keeps it. It returns ErrNotClosed
// for a need that is still open.
func (n *Need) Reopen(to Stage, reason, actor string, now time.Time) error {
	reason = strings.TrimSpace(reason)
	var v validate.Collector
	switch {
	case !to.Valid():
		v.Add("stage", validate.ReasonUnknownCode, validate.Message{ZH: "商机阶段无效", EN: "unknown stage"})
	case !to.Open():
		v.Add("stage", validate.ReasonNotAllowed, validate.Message{
			ZH: "重新打开的商机须处于进行中的阶段（初步接洽、需求确认、方案制定、报价或商务谈判）",
			EN: "a need is reopened at an open stage (initial, confirmed, proposal, quotation or negotiation)",
		})
	}
	if err := ValidateReason("reason", reason, true); err != nil {
		mergeInto(&v, err)
	}
	if err := v.Err(); err != nil {
		return err
	}
	if !CanReopen(n.Stage, to) {
		return ErrNotClosed
	}
	n.Stage = to
	n.LostReason = ""
	n.StageChangedAt, n.StageChangedBy = now, actor
	return nil
}

// mergeInto adds the violations of a validation error to v.
func mergeInto(v *validate.Collector, err error) {
	var ve *validate.Error
	if errors.As(err, &ve) {
		for _, x := range ve.Violations {
			v.Add(x.Field, x.Reason, x.Message)
		}
	}
}
