package feedback

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crmsuite/crm/pkg/validate"
)

// Status is 处理状态.
type Status string

// Statuses of feedback.
const (
	StatusPending    Status = "pending"
	StatusInProgress Status = "in_progress"
	StatusResolved   Status = "resolved"
	StatusClosed     Status = "closed"
)

// Statuses lists every valid status.
var Statuses = []Status{StatusPending, StatusInProgress, StatusResolved, StatusClosed}

func (s Status) valid() bool { return slices.Contains(Statuses, s) }

// transitions says where each status may move:
//   - pending → in_progress: someone starts handling it (the first response);
//   - in_progress → resolved: plan and result are recorded;
//   - resolved → closed: done; resolved → in_progress: reopened, with a reason (the customer is not
//     satisfied, the fix did not hold);
//   - pending → closed: only for feedback other than complaints (praise that needs no action, an
//     invalid or duplicate record), with a reason. A complaint is always handled and resolved, so
//     its response time is always recorded.
//
// closed is final. in_progress cannot be closed without being resolved first.
var transitions = map[Status][]Status{
	StatusPending:    {StatusInProgress, StatusClosed},
	StatusInProgress: {StatusResolved},
	StatusResolved:   {StatusClosed, StatusInProgress},
	StatusClosed:     nil,
}

// ErrIllegalTransition is returned for a status change the state machine does not allow.
var ErrIllegalTransition = errors.New("illegal status transition")

// TransitionError names the refused transition.
type TransitionError struct {
	From, To Status
	Allowed  []Status
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("status cannot change from %s to %s", e.From, e.To)
}

func (e *TransitionError) Unwrap() error { return ErrIllegalTransition }

// CanTransition reports whether feedback of type t may move from one status to another.
func CanTransition(t Type, from, to Status) bool {
	if from == StatusPending && to == StatusClosed && t == TypeComplaint {
		return false
	}
	return slices.Contains(transitions[from], to)
}

// AllowedTransitions lists where feedback of type t may move from a status.
func AllowedTransitions(t Type, from Status) []Status {
	var out []Status
	for _, to := range transitions[from] {
		if CanTransition(t, from, to) {
			out = append(out, to)
		}
	}
	return out
}

// reasonRequired reports whether a transition needs a reason: reopening, and closing feedback
// nobody handled.
func reasonRequired(from, to Status) bool {
	return (from == StatusResolved && to == StatusInProgress) || (from == StatusPending && to == StatusClosed)
}

// ChangeStatus moves the feedback to status to at now, by actor, with reason. It records the first
// response when the feedback leaves pending, makes the actor the handler when someone starts
// processing unassigned feedback, stamps resolve and close times, and on reopening clears the
// resolve time and the satisfaction (which rated the earlier resolution). Resolving requires a
// plan and a result. It returns a *TransitionError for a transition the state machine refuses and
// a *validate.Error for a missing reason, plan or result.
func (f *Feedback) ChangeStatus(to Status, reason, actor string, now time.Time) error {
	if !to.valid() {
		return violation("status", validate.ReasonUnknownCode, validate.Message{ZH: "处理状态无效", EN: "unknown feedback status"})
	}
	if !CanTransition(f.Type, f.Status, to) {
		return &TransitionError{From: f.Status, To: to, Allowed: AllowedTransitions(f.Type, f.Status)}
	}
	reason = strings.TrimSpace(reason)
	var v validate.Collector
	if reasonRequired(f.Status, to) && reason == "" {
		msg := validate.Message{ZH: "重新打开反馈时必须说明原因", EN: "a reason is required to reopen feedback"}
		if to == StatusClosed {
			msg = validate.Message{ZH: "未处理直接关闭反馈时必须说明原因（如无需处理、无效反馈）",
				EN: "a reason is required to close feedback without handling it (e.g. no action needed, invalid)"}
		}
		v.Add("reason", validate.ReasonRequired, msg)
	}
	if validate.RuneLen(reason) > MaxReason {
		v.Add("reason", validate.ReasonTooLong, validate.TooLongMessage("原因", "Reason", MaxReason))
	}
	if to == StatusResolved {
		if strings.TrimSpace(f.Plan) == "" {
			v.Add("plan", validate.ReasonRequired, validate.Message{ZH: "完成前必须填写处理方案", EN: "a plan is required before the feedback is resolved"})
		}
		if strings.TrimSpace(f.Result) == "" {
			v.Add("result", validate.ReasonRequired, validate.Message{ZH: "完成前必须填写处理结果", EN: "a result is required before the feedback is resolved"})
		}
	}
	if err := v.Err(); err != nil {
		return err
	}

	from := f.Status
	if from == StatusPending && f.FirstResponseAt == nil {
		t := now
		f.FirstResponseAt = &t
	}
	switch to {
	case StatusInProgress:
		if from == StatusResolved {
			f.ResolvedAt, f.Satisfaction = nil, 0
		}
		if f.HandlerID == "" {
			f.HandlerID = actor
		}
	case StatusResolved:
		t := now
		f.ResolvedAt = &t
	case StatusClosed:
		t := now
		f.ClosedAt = &t
	}
	f.Status = to
	f.StatusReason = reason
	return nil
}

// Assign makes handler the feedback's handler. Closed feedback cannot be reassigned.
func (f *Feedback) Assign(handler string) error {
	if f.Status == StatusClosed {
		return ErrClosed
	}
	return f.setHandler(handler)
}

func (f *Feedback) setHandler(handler string) error {
	handler = strings.TrimSpace(handler)
	switch {
	case handler == "":
		return violation("handler_id", validate.ReasonRequired, validate.RequiredMessage("处理人", "Handler"))
	case validate.RuneLen(handler) > maxUserID:
		return violation("handler_id", validate.ReasonTooLong, validate.TooLongMessage("处理人", "Handler", maxUserID))
	}
	f.HandlerID = handler
	return nil
}

func violation(field, reason string, msg validate.Message) error {
	return &validate.Error{Violations: []validate.Violation{{Field: field, Reason: reason, Message: msg}}}
}
