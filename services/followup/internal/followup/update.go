package followup

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crmsuite/crm/pkg/validate"
)

// field is one API field of a follow-up: how to read it (for diffs) and how to copy it from a
// patch (for updates; nil for fields no update mask may name). Paths are the API's snake_case paths.
type field struct {
	path string
	// owner fields may be changed by admins and managers only.
	owner bool
	get   func(f *FollowUp) any
	copy  func(dst, src *FollowUp)
}

func str(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func timeValue(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339Nano)
}

var fields = []field{
	{path: "customer_id", get: func(f *FollowUp) any { return str(f.CustomerID) }},
	{path: "contact_name", get: func(f *FollowUp) any { return str(f.ContactName) }, copy: func(d, s *FollowUp) { d.ContactName = s.ContactName }},
	{path: "method", get: func(f *FollowUp) any { return str(string(f.Method)) }, copy: func(d, s *FollowUp) { d.Method = s.Method }},
	{path: "contact_time", get: func(f *FollowUp) any { return timeValue(&f.ContactTime) }, copy: func(d, s *FollowUp) { d.ContactTime = s.ContactTime }},
	{path: "kind", get: func(f *FollowUp) any { return str(string(f.Kind)) }, copy: func(d, s *FollowUp) { d.Kind = s.Kind }},
	{path: "content", get: func(f *FollowUp) any { return str(f.Content) }, copy: func(d, s *FollowUp) { d.Content = s.Content }},
	{path: "next_action", get: func(f *FollowUp) any { return str(f.NextAction) }, copy: func(d, s *FollowUp) { d.NextAction = s.NextAction }},
	{path: "next_action_due_date", get: func(f *FollowUp) any {
		if f.NextActionDue == nil {
			return nil
		}
		return f.NextActionDue.String()
	}, copy: func(d, s *FollowUp) { d.NextActionDue = s.NextActionDue }},
	{path: "owner_id", owner: true, get: func(f *FollowUp) any { return str(f.OwnerID) }, copy: func(d, s *FollowUp) { d.OwnerID = s.OwnerID }},
	{path: "done", get: func(f *FollowUp) any { return f.Done }},
	{path: "done_time", get: func(f *FollowUp) any { return timeValue(f.DoneAt) }},
	{path: "done_by", get: func(f *FollowUp) any { return str(f.DoneBy) }},
	{path: "competitor_notes", get: func(f *FollowUp) any { return str(f.CompetitorNotes) }, copy: func(d, s *FollowUp) { d.CompetitorNotes = s.CompetitorNotes }},
	{path: "delete_time", get: func(f *FollowUp) any { return timeValue(f.DeletedAt) }},
	{path: "deleted_by", get: func(f *FollowUp) any { return str(f.DeletedBy) }},
}

// Change is one changed field with its values before and after (nil for empty).
type Change struct {
	Field         string
	Before, After any
}

// Diff lists the fields whose values differ between two versions of a record, in field order.
// A nil before means the record is new, and every non-empty field is listed (done=false too).
func Diff(before, after *FollowUp) []Change {
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

// UpdatablePaths lists the field paths UpdateFollowUp accepts.
func UpdatablePaths() []string {
	var p []string
	for _, f := range fields {
		if f.copy != nil {
			p = append(p, f.path)
		}
	}
	return p
}

// ApplyMask copies the fields named in paths from patch into f. It returns a *validate.Error for
// an empty mask, unknown or read-only paths, and owner_id when ownerAllowed is false. It does not
// validate the result: call Normalise and Validate afterwards.
//
// Clearing next_action without naming next_action_due_date clears the due date too. When the next
// action or its due date changes, a completed record opens again: the new action is not done.
func (f *FollowUp) ApplyMask(patch *FollowUp, paths []string, ownerAllowed bool) error {
	var v validate.Collector
	if len(paths) == 0 {
		v.Add("update_mask", validate.ReasonRequired, validate.Message{
			ZH: "update_mask 不能为空，请列出要修改的字段", EN: "update_mask is required: list the fields to change",
		})
	}
	before := *f
	named := map[string]bool{}
	for _, p := range paths {
		p = strings.TrimSpace(p)
		named[p] = true
		i := slices.IndexFunc(fields, func(x field) bool { return x.path == p })
		switch {
		case p == "done":
			v.Add("update_mask", validate.ReasonNotAllowed, validate.Message{
				ZH: "完成状态须通过完成操作（:complete）修改", EN: "done is set through CompleteFollowUp (:complete)",
			})
		case p == "customer_id":
			v.Add("update_mask", validate.ReasonNotAllowed, validate.Message{
				ZH: "联系记录不能改到其他客户名下", EN: "a follow-up cannot move to another customer",
			})
		case i < 0 || fields[i].copy == nil:
			v.Add("update_mask", validate.ReasonNotAllowed, validate.Message{
				ZH: "字段 " + p + " 不存在或不可修改", EN: "field " + p + " does not exist or cannot be changed",
			})
		case fields[i].owner && !ownerAllowed:
			v.Add("owner_id", validate.ReasonNotAllowed, validate.Message{
				ZH: "只有管理员和部门负责人可以更换联系记录的负责人", EN: "only admins and managers may change the owner of a follow-up",
			})
		default:
			fields[i].copy(f, patch)
		}
	}
	if err := v.Err(); err != nil {
		*f = before
		return err
	}
	if named["next_action"] && strings.TrimSpace(f.NextAction) == "" && !named["next_action_due_date"] {
		f.NextActionDue = nil
	}
	if f.Done && (strings.TrimSpace(f.NextAction) != before.NextAction || !sameDate(f.NextActionDue, before.NextActionDue)) {
		f.Done, f.DoneAt, f.DoneBy = false, nil, ""
	}
	return nil
}

func sameDate(a, b *Date) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
