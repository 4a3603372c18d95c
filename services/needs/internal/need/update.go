package need

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crmsuite/crm/pkg/validate"
)

// field is one API field of a need: how to read it (for diffs) and how to copy it from a patch (for
// updates; nil when UpdateNeed cannot change it). Paths are the API's snake_case field paths.
type field struct {
	path string
	// owner marks the field only admins and managers may change.
	owner bool
	get   func(n *Need) any
	copy  func(dst, src *Need)
}

func str(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func yuan(fen *int64) any {
	if fen == nil {
		return nil
	}
	return FormatYuan(*fen)
}

func date(d *Date) any {
	if d == nil {
		return nil
	}
	return d.String()
}

var fields = []field{
	{path: "customer_id", get: func(n *Need) any { return str(n.CustomerID) }},
	{path: "title", get: func(n *Need) any { return str(n.Title) }, copy: func(d, s *Need) { d.Title = s.Title }},
	{path: "type", get: func(n *Need) any { return str(string(n.Type)) }, copy: func(d, s *Need) { d.Type = s.Type }},
	{path: "description", get: func(n *Need) any { return str(n.Description) }, copy: func(d, s *Need) { d.Description = s.Description }},
	{path: "budget_min", get: func(n *Need) any { return yuan(n.BudgetMinFen) }, copy: func(d, s *Need) { d.BudgetMinFen = s.BudgetMinFen }},
	{path: "budget_max", get: func(n *Need) any { return yuan(n.BudgetMaxFen) }, copy: func(d, s *Need) { d.BudgetMaxFen = s.BudgetMaxFen }},
	{path: "expected_delivery_date", get: func(n *Need) any { return date(n.DeliveryDate) }, copy: func(d, s *Need) { d.DeliveryDate = s.DeliveryDate }},
	{path: "expected_close_date", get: func(n *Need) any { return date(n.CloseDate) }, copy: func(d, s *Need) { d.CloseDate = s.CloseDate }},
	{path: "expected_amount", get: func(n *Need) any { return yuan(n.AmountFen) }, copy: func(d, s *Need) { d.AmountFen = s.AmountFen }},
	{path: "stage", get: func(n *Need) any { return str(string(n.Stage)) }},
	{path: "lost_reason", get: func(n *Need) any { return str(n.LostReason) }},
	{path: "department", get: func(n *Need) any { return str(n.Department) }, copy: func(d, s *Need) { d.Department = s.Department }},
	{path: "owner_id", owner: true, get: func(n *Need) any { return str(n.OwnerID) }, copy: func(d, s *Need) { d.OwnerID = s.OwnerID }},
	{path: "competitors", get: func(n *Need) any {
		if len(n.Competitors) == 0 {
			return nil
		}
		return slices.Clone(n.Competitors)
	}, copy: func(d, s *Need) { d.Competitors = slices.Clone(s.Competitors) }},
	{path: "delete_time", get: func(n *Need) any {
		if n.DeletedAt == nil {
			return nil
		}
		return n.DeletedAt.UTC().Format(time.RFC3339Nano)
	}},
}

// FormatYuan renders fen as a yuan amount with two decimals, e.g. 123456 → "1234.56".
func FormatYuan(fen int64) string {
	sign := ""
	u := uint64(fen)
	if fen < 0 {
		sign, u = "-", uint64(-(fen+1))+1 // no overflow at math.MinInt64
	}
	return fmt.Sprintf("%s%d.%02d", sign, u/100, u%100)
}

// Change is one changed field with its values before and after (nil for empty).
type Change struct {
	Field         string
	Before, After any
}

// Diff lists the fields whose values differ between two versions of a need, in field order. A nil
// before means the need is new, and every non-empty field is listed.
func Diff(before, after *Need) []Change {
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

// UpdatablePaths lists the field paths UpdateNeed accepts.
func UpdatablePaths() []string {
	var p []string
	for _, f := range fields {
		if f.copy != nil {
			p = append(p, f.path)
		}
	}
	return p
}

// ApplyMask copies the fields named in paths from patch into n. It returns a *validate.Error for an
// empty mask, for unknown or not updatable paths (the stage among them), and for owner_id when
// ownerAllowed is false. It does not validate the result: call Normalise and Validate afterwards.
func (n *Need) ApplyMask(patch *Need, paths []string, ownerAllowed bool) error {
	var v validate.Collector
	if len(paths) == 0 {
		v.Add("update_mask", validate.ReasonRequired, validate.Message{
			ZH: "update_mask 不能为空，请列出要修改的字段", EN: "update_mask is required: list the fields to change",
		})
	}
	for _, p := range paths {
		p = strings.TrimSpace(p)
		i := slices.IndexFunc(fields, func(f field) bool { return f.path == p })
		switch {
		case p == "stage" || p == "lost_reason":
			v.Add("update_mask", validate.ReasonNotAllowed, validate.Message{
				ZH: "商机阶段须通过阶段变更（:changeStage）或重新打开（:reopen）修改",
				EN: "the stage is changed through ChangeNeedStage (:changeStage) or ReopenNeed (:reopen)",
			})
		case i < 0 || fields[i].copy == nil:
			v.Add("update_mask", validate.ReasonNotAllowed, validate.Message{
				ZH: "字段 " + p + " 不存在或不可修改", EN: "field " + p + " does not exist or cannot be changed",
			})
		case fields[i].owner && !ownerAllowed:
			v.Add(p, validate.ReasonNotAllowed, validate.Message{
				ZH: "只有管理员和部门负责人可以更换商机负责人", EN: "only admins and managers may change the owner of a need",
			})
		default:
			fields[i].copy(n, patch)
		}
	}
	return v.Err()
}
