package customer

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crmsuite/crm/pkg/validate"
)

// field is one API field of a customer: how to read it (for diffs) and how to copy it from a
// patch (for updates). Paths are the API's snake_case field paths.
type field struct {
	path string
	// key fields (客户核心标识) may be changed directly by admins only.
	key  bool
	get  func(c *Customer) any
	copy func(dst, src *Customer)
}

func str(s string) any {
	if s == "" {
		return nil
	}
	return s
}

var fields = []field{
	{path: "name", key: true, get: func(c *Customer) any { return str(c.Name) }, copy: func(d, s *Customer) { d.Name = s.Name }},
	{path: "type", key: true, get: func(c *Customer) any { return str(string(c.Type)) }, copy: func(d, s *Customer) { d.Type = s.Type }},
	{path: "industry", get: func(c *Customer) any { return str(c.Industry) }, copy: func(d, s *Customer) { d.Industry = s.Industry }},
	{path: "uscc", key: true, get: func(c *Customer) any { return str(c.USCC) }, copy: func(d, s *Customer) { d.USCC = s.USCC }},
	{path: "contact_name", get: func(c *Customer) any { return str(c.ContactName) }, copy: func(d, s *Customer) { d.ContactName = s.ContactName }},
	{path: "contact_title", get: func(c *Customer) any { return str(c.ContactTitle) }, copy: func(d, s *Customer) { d.ContactTitle = s.ContactTitle }},
	{path: "mobile", get: func(c *Customer) any { return str(c.Mobile) }, copy: func(d, s *Customer) { d.Mobile = s.Mobile }},
	{path: "landline", get: func(c *Customer) any { return str(c.Landline) }, copy: func(d, s *Customer) { d.Landline = s.Landline }},
	{path: "email", get: func(c *Customer) any { return str(c.Email) }, copy: func(d, s *Customer) { d.Email = s.Email }},
	{path: "address.province", get: func(c *Customer) any { return str(c.Address.Province) }, copy: func(d, s *Customer) { d.Address.Province = s.Address.Province }},
	{path: "address.city", get: func(c *Customer) any { return str(c.Address.City) }, copy: func(d, s *Customer) { d.Address.City = s.Address.City }},
	{path: "address.district", get: func(c *Customer) any { return str(c.Address.District) }, copy: func(d, s *Customer) { d.Address.District = s.Address.District }},
	{path: "address.street", get: func(c *Customer) any { return str(c.Address.Street) }, copy: func(d, s *Customer) { d.Address.Street = s.Address.Street }},
	{path: "scale", get: func(c *Customer) any { return str(string(c.Scale)) }, copy: func(d, s *Customer) { d.Scale = s.Scale }},
	{path: "status", get: func(c *Customer) any { return str(string(c.Status)) }},
	{path: "source", get: func(c *Customer) any { return str(string(c.Source)) }, copy: func(d, s *Customer) { d.Source = s.Source }},
	{path: "first_contact_date", get: func(c *Customer) any {
		if c.FirstContactDate == nil {
			return nil
		}
		return c.FirstContactDate.String()
	}, copy: func(d, s *Customer) { d.FirstContactDate = s.FirstContactDate }},
	{path: "owner_id", key: true, get: func(c *Customer) any { return str(c.OwnerID) }, copy: func(d, s *Customer) { d.OwnerID = s.OwnerID }},
	{path: "team_id", key: true, get: func(c *Customer) any { return str(c.TeamID) }, copy: func(d, s *Customer) { d.TeamID = s.TeamID }},
	{path: "estimated_annual_amount", get: func(c *Customer) any {
		if c.AmountFen == nil {
			return nil
		}
		return FormatYuan(*c.AmountFen)
	}, copy: func(d, s *Customer) { d.AmountFen = s.AmountFen }},
	{path: "remarks", get: func(c *Customer) any { return str(c.Remarks) }, copy: func(d, s *Customer) { d.Remarks = s.Remarks }},
	{path: "consent", get: func(c *Customer) any {
		if c.Consent == nil {
			return nil
		}
		return consentSummary(c.Consent)
	}, copy: func(d, s *Customer) { d.Consent = s.Consent }},
	{path: "delete_time", get: func(c *Customer) any {
		if c.DeletedAt == nil {
			return nil
		}
		return c.DeletedAt.UTC().Format(time.RFC3339Nano)
	}},
	{path: "delete_reason", get: func(c *Customer) any { return str(c.DeleteReason) }},
	{path: "merged_into", get: func(c *Customer) any { return str(c.MergedInto) }},
}

// aliases expand whole-message paths to their leaves.
var aliases = map[string][]string{
	"address": {"address.province", "address.city", "address.district", "address.street"},
}

// FormatYuan renders fen as a yuan amount with two decimals, e.g. 123456 → "1234.56".
func FormatYuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s%d.%02d", sign, fen/100, fen%100)
}

func consentSummary(cs *Consent) map[string]any {
	m := map[string]any{"purpose": cs.Purpose, "channel": cs.Channel, "evidence_ref": cs.EvidenceRef}
	if cs.ObtainedAt != nil {
		m["obtain_time"] = cs.ObtainedAt.UTC().Format(time.RFC3339)
	}
	if cs.WithdrawnAt != nil {
		m["withdraw_time"] = cs.WithdrawnAt.UTC().Format(time.RFC3339)
	}
	return m
}

// Change is one changed field with its values before and after (nil for empty).
type Change struct {
	Field         string
	Before, After any
}

// Diff lists the fields whose values differ between two versions of a customer, in field order.
// A nil before means the customer is new, and every non-empty field is listed.
func Diff(before, after *Customer) []Change {
	var out []Change
	for _, f := range fields {
		var b any
		if before != nil {
			b = f.get(before)
		}
		a := f.get(after)
		if !samePrint(b, a) {
			out = append(out, Change{Field: f.path, Before: b, After: a})
		}
	}
	return out
}

// samePrint reports whether fmt.Sprint(b) == fmt.Sprint(a) for field values, which are nil,
// strings or maps: strings and nil are compared without printing them, as bulk imports diff every
// field of every new customer (fmt.Sprint was a tenth of an import's CPU).
func samePrint(b, a any) bool {
	const printedNil = "<nil>" // fmt.Sprint(nil)
	bs, bString := b.(string)
	as, aString := a.(string)
	switch {
	case bString && aString:
		return bs == as
	case b == nil && a == nil:
		return true
	case b == nil && aString:
		return as == printedNil
	case a == nil && bString:
		return bs == printedNil
	}
	return fmt.Sprint(b) == fmt.Sprint(a)
}

// UpdatablePaths lists the field paths UpdateCustomer accepts.
func UpdatablePaths() []string {
	var p []string
	for _, f := range fields {
		if f.copy != nil {
			p = append(p, f.path)
		}
	}
	return append(p, "address")
}

// ApplyMask copies the fields named in paths from patch into c. It returns a *validate.Error for
// unknown or not updatable paths, and for key fields when keyFieldsAllowed is false. It does not
// validate the result: call Normalise and Validate afterwards.
func (c *Customer) ApplyMask(patch *Customer, paths []string, keyFieldsAllowed bool) error {
	var v validate.Collector
	if len(paths) == 0 {
		v.Add("update_mask", validate.ReasonRequired, validate.Message{
			ZH: "update_mask 不能为空，请列出要修改的字段", EN: "update_mask is required: list the fields to change",
		})
	}
	var leaves []string
	for _, p := range paths {
		p = strings.TrimSpace(p)
		if exp, ok := aliases[p]; ok {
			leaves = append(leaves, exp...)
			continue
		}
		leaves = append(leaves, p)
	}
	for _, p := range leaves {
		i := slices.IndexFunc(fields, func(f field) bool { return f.path == p })
		switch {
		case p == "status":
			v.Add("update_mask", validate.ReasonNotAllowed, validate.Message{
				ZH: "客户状态须通过状态变更（:changeStatus）修改", EN: "status is changed through ChangeCustomerStatus (:changeStatus)",
			})
		case i < 0 || fields[i].copy == nil:
			v.Add("update_mask", validate.ReasonNotAllowed, validate.Message{
				ZH: "字段 " + p + " 不存在或不可修改", EN: "field " + p + " does not exist or cannot be changed",
			})
		case fields[i].key && !keyFieldsAllowed:
			v.Add(p, validate.ReasonNotAllowed, validate.Message{
				ZH: "客户名称、类型、负责人、所属团队和统一社会信用代码为关键字段，只有管理员可以直接修改，请提交变更申请",
				EN: "name, type, owner, team and USCC are key fields: only admins may change them directly; file a change request",
			})
		default:
			fields[i].copy(c, patch)
		}
	}
	return v.Err()
}

// ChangeStatus moves the customer to a new status, recording who and when.
func (c *Customer) ChangeStatus(to Status, actor string, now time.Time) error {
	if !to.valid() {
		return &validate.Error{Violations: []validate.Violation{{Field: "status", Reason: validate.ReasonUnknownCode,
			Message: validate.Message{ZH: "客户状态无效", EN: "unknown customer status"}}}}
	}
	if !CanTransition(c.Status, to) {
		return &TransitionError{From: c.Status, To: to, Allowed: AllowedTransitions(c.Status)}
	}
	c.Status = to
	c.StatusChangedAt = now
	c.StatusChangedBy = actor
	return nil
}
