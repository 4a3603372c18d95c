package feedback

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crmsuite/crm/pkg/validate"
)

// field is one API field of feedback: how to read it (for diffs) and, for the fields
// UpdateFeedback accepts, how to copy it from a patch. Paths are the API's snake_case names.
type field struct {
	path string
	get  func(f *Feedback) any
	copy func(dst, src *Feedback)
}

func str(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func tm(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Format(time.RFC3339Nano)
}

var fields = []field{
	{path: "customer_id", get: func(f *Feedback) any { return str(f.CustomerID) }},
	{path: "type", get: func(f *Feedback) any { return str(string(f.Type)) }, copy: func(d, s *Feedback) { d.Type = s.Type }},
	{path: "content", get: func(f *Feedback) any { return str(f.Content) }, copy: func(d, s *Feedback) { d.Content = s.Content }},
	{path: "channel", get: func(f *Feedback) any { return str(string(f.Channel)) }, copy: func(d, s *Feedback) { d.Channel = s.Channel }},
	{path: "status", get: func(f *Feedback) any { return str(string(f.Status)) }},
	{path: "status_reason", get: func(f *Feedback) any { return str(f.StatusReason) }},
	{path: "handler_id", get: func(f *Feedback) any { return str(f.HandlerID) }},
	{path: "plan", get: func(f *Feedback) any { return str(f.Plan) }, copy: func(d, s *Feedback) { d.Plan = s.Plan }},
	{path: "result", get: func(f *Feedback) any { return str(f.Result) }, copy: func(d, s *Feedback) { d.Result = s.Result }},
	{path: "satisfaction", get: func(f *Feedback) any {
		if f.Satisfaction == 0 {
			return nil
		}
		return f.Satisfaction
	}, copy: func(d, s *Feedback) { d.Satisfaction = s.Satisfaction }},
	{path: "response_deadline", get: func(f *Feedback) any { return tm(f.ResponseDeadline) }},
	{path: "first_response_time", get: func(f *Feedback) any { return tm(f.FirstResponseAt) }},
	{path: "resolve_time", get: func(f *Feedback) any { return tm(f.ResolvedAt) }},
	{path: "close_time", get: func(f *Feedback) any { return tm(f.ClosedAt) }},
	{path: "delete_time", get: func(f *Feedback) any { return tm(f.DeletedAt) }},
	{path: "delete_reason", get: func(f *Feedback) any { return str(f.DeleteReason) }},
}

// Change is one changed field with its values before and after (nil for empty).
type Change struct {
	Field         string
	Before, After any
}

// Diff lists the fields whose values differ between two versions of feedback, in field order.
// A nil before means the feedback is new, and every non-empty field is listed.
func Diff(before, after *Feedback) []Change {
	var out []Change
	for _, f := range fields {
		var b any
		if before != nil {
			b = f.get(before)
		}
		a := f.get(after)
		if fmt.Sprint(b) != fmt.Sprint(a) {
			out = append(out, Change{Field: f.path, Before: b, After: a})
		}
	}
	return out
}

// UpdatablePaths lists the field paths UpdateFeedback accepts.
func UpdatablePaths() []string {
	var p []string
	for _, f := range fields {
		if f.copy != nil {
			p = append(p, f.path)
		}
	}
	return p
}

// ApplyMask copies the fields named in paths from patch into f. Closed feedback takes only the
// satisfaction (rated at the follow-up call, 回访, after closing): anything else is ErrClosed. The
// type may change only while the feedback is pending, and a change of type recomputes the
// response deadline from the creation time and sla. Unknown or not updatable paths are a
// *validate.Error. It does not validate the result: call Normalise and Validate afterwards.
func (f *Feedback) ApplyMask(patch *Feedback, paths []string, sla time.Duration) error {
	var v validate.Collector
	if len(paths) == 0 {
		v.Add("update_mask", validate.ReasonRequired, validate.Message{
			ZH: "update_mask 不能为空，请列出要修改的字段", EN: "update_mask is required: list the fields to change",
		})
	}
	oldType := f.Type
	for _, p := range paths {
		p = strings.TrimSpace(p)
		i := slices.IndexFunc(fields, func(x field) bool { return x.path == p })
		switch {
		case p == "status":
			v.Add("update_mask", validate.ReasonNotAllowed, validate.Message{
				ZH: "处理状态须通过状态变更（:changeStatus）修改", EN: "status is changed through ChangeFeedbackStatus (:changeStatus)",
			})
		case p == "handler_id":
			v.Add("update_mask", validate.ReasonNotAllowed, validate.Message{
				ZH: "处理人须通过分配（:assign）修改", EN: "the handler is changed through AssignFeedback (:assign)",
			})
		case i < 0 || fields[i].copy == nil:
			v.Add("update_mask", validate.ReasonNotAllowed, validate.Message{
				ZH: "字段 " + p + " 不存在或不可修改", EN: "field " + p + " does not exist or cannot be changed",
			})
		case f.Status == StatusClosed && p != "satisfaction":
			return ErrClosed
		case p == "type" && f.Status != StatusPending && patch.Type != f.Type:
			v.Add("type", validate.ReasonNotAllowed, validate.Message{
				ZH: "只有待处理的反馈可以修改反馈类型", EN: "the type can only change while the feedback is pending",
			})
		default:
			fields[i].copy(f, patch)
		}
	}
	if f.Type != oldType {
		f.applySLA(sla)
	}
	return v.Err()
}
