package need

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmsuite/crm/pkg/validate"
)

var now = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// legal is the pipeline written out by hand, independently of CanTransition: for each stage, every
// stage ChangeStage may move to. Anything else must be refused.
var legal = map[Stage][]Stage{
	StageInitial:     {StageConfirmed, StageProposal, StageQuotation, StageNegotiation, StageLost},
	StageConfirmed:   {StageInitial, StageProposal, StageQuotation, StageNegotiation, StageLost},
	StageProposal:    {StageInitial, StageConfirmed, StageQuotation, StageNegotiation, StageLost},
	StageQuotation:   {StageInitial, StageConfirmed, StageProposal, StageNegotiation, StageWon, StageLost},
	StageNegotiation: {StageInitial, StageConfirmed, StageProposal, StageQuotation, StageWon, StageLost},
	StageWon:         {},
	StageLost:        {},
}

func TestChangeStageEveryPair(t *testing.T) {
	t.Parallel()
	for _, from := range Stages {
		for _, to := range Stages {
			want := slices.Contains(legal[from], to)
			t.Run(string(from)+"→"+string(to), func(t *testing.T) {
				t.Parallel()
				if got := CanTransition(from, to); got != want {
					t.Fatalf("CanTransition = %v, want %v", got, want)
				}
				n := &Need{Stage: from, LostReason: lostReasonFor(from), StageChangedBy: "u-before"}
				err := n.ChangeStage(to, "客户预算被砍", "u-sales1", now)
				if !want {
					var te *TransitionError
					if !errors.As(err, &te) || !errors.Is(err, ErrIllegalTransition) || te.From != from || te.To != to {
						t.Fatalf("err = %v, want a TransitionError", err)
					}
					if !slices.Equal(te.Allowed, legal[from]) {
						t.Fatalf("allowed = %v, want %v", te.Allowed, legal[from])
					}
					if n.Stage != from || n.StageChangedBy != "u-before" {
						t.Fatalf("refused change altered the need: %+v", n)
					}
					return
				}
				if err != nil {
					t.Fatalf("legal change refused: %v", err)
				}
				if n.Stage != to || n.StageChangedBy != "u-sales1" || !n.StageChangedAt.Equal(now) {
					t.Fatalf("need after change: %+v", n)
				}
				if wantReason := map[bool]string{true: "客户预算被砍", false: ""}[to == StageLost]; n.LostReason != wantReason {
					t.Fatalf("lost reason = %q, want %q", n.LostReason, wantReason)
				}
			})
		}
	}
}

func lostReasonFor(s Stage) string {
	if s == StageLost {
		return "价格过高"
	}
	return ""
}

func TestAllowedTransitionsMatchTheTable(t *testing.T) {
	t.Parallel()
	for _, from := range Stages {
		if got := AllowedTransitions(from); !slices.Equal(got, legal[from]) && (len(got) != 0 || len(legal[from]) != 0) {
			t.Errorf("AllowedTransitions(%s) = %v, want %v", from, got, legal[from])
		}
	}
	if got := AllowedTransitions("bogus"); len(got) != 0 {
		t.Errorf("unknown stage allows %v", got)
	}
}

func TestReopenEveryPair(t *testing.T) {
	t.Parallel()
	for _, from := range Stages {
		for _, to := range Stages {
			t.Run(string(from)+"→"+string(to), func(t *testing.T) {
				t.Parallel()
				closed := from == StageWon || from == StageLost
				open := to != StageWon && to != StageLost
				n := &Need{Stage: from, LostReason: lostReasonFor(from)}
				err := n.Reopen(to, "客户重新启动采购", "u-manager", now)
				switch {
				case !open:
					if v := violations(err); v["stage"] != validate.ReasonNotAllowed {
						t.Fatalf("reopen to a closed stage: %v", err)
					}
				case !closed:
					if !errors.Is(err, ErrNotClosed) {
						t.Fatalf("reopen of an open need: %v", err)
					}
				default:
					if err != nil || n.Stage != to || n.LostReason != "" || n.StageChangedBy != "u-manager" {
						t.Fatalf("reopen: %v, need %+v", err, n)
					}
				}
				if CanReopen(from, to) != (closed && open) {
					t.Fatalf("CanReopen(%s, %s) = %v", from, to, CanReopen(from, to))
				}
			})
		}
	}
}

func TestStageChangeReasons(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("价", 201)
	tests := []struct {
		name   string
		do     func(n *Need) error
		field  string
		reason string
	}{
		{"lost without reason", func(n *Need) error { return n.ChangeStage(StageLost, "  ", "u", now) }, "reason", validate.ReasonRequired},
		{"lost with a long reason", func(n *Need) error { return n.ChangeStage(StageLost, long, "u", now) }, "reason", validate.ReasonTooLong},
		{"forward with a long reason", func(n *Need) error { return n.ChangeStage(StageProposal, long, "u", now) }, "reason", validate.ReasonTooLong},
		{"unknown stage", func(n *Need) error { return n.ChangeStage("signed", "", "u", now) }, "stage", validate.ReasonUnknownCode},
		{"reopen without reason", func(n *Need) error { n.Stage = StageWon; return n.Reopen(StageProposal, "", "u", now) }, "reason", validate.ReasonRequired},
		{"reopen to unknown stage", func(n *Need) error { n.Stage = StageLost; return n.Reopen("later", "x", "u", now) }, "stage", validate.ReasonUnknownCode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := &Need{Stage: StageConfirmed}
			if got := violations(tt.do(n))[tt.field]; got != tt.reason {
				t.Fatalf("%s: violation %q, want %q", tt.field, got, tt.reason)
			}
		})
	}
	// Forward moves need no reason.
	n := &Need{Stage: StageInitial}
	if err := n.ChangeStage(StageNegotiation, "", "u", now); err != nil {
		t.Fatal(err)
	}
}

func TestTransitionMessageNamesTheWayOut(t *testing.T) {
	t.Parallel()
	n := &Need{Stage: StageWon}
	err := n.ChangeStage(StageNegotiation, "", "u", now)
	var te *TransitionError
	if !errors.As(err, &te) || !strings.Contains(te.Message().ZH, "重新打开") || !strings.Contains(te.Message().EN, "reopen") {
		t.Fatalf("won → negotiation: %v", err)
	}
	n = &Need{Stage: StageInitial}
	err = n.ChangeStage(StageWon, "", "u", now)
	if !errors.As(err, &te) || !strings.Contains(te.Message().ZH, "需求确认") || !strings.Contains(te.Message().EN, "allowed: confirmed") {
		t.Fatalf("initial → won: %v %q", err, te.Message())
	}
}
