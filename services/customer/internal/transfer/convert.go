package transfer

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/crmsuite/crm/pkg/validate"
	"github.com/crmsuite/crm/services/customer/internal/customer"
)

// Scope is how far an importer reaches: like CreateCustomer, a sales rep imports customers it
// owns, a manager within its team, an admin for anyone.
type Scope string

// Importer scopes.
const (
	ScopeOwn  Scope = "own"
	ScopeTeam Scope = "team"
	ScopeAll  Scope = "all"
)

// Importer is who imports, and the owner and team of rows that name none.
type Importer struct {
	UserID, TeamID string
	Scope          Scope
	DefaultOwnerID string
	DefaultTeamID  string
}

// Converter turns the data rows of one file into customers.
type Converter struct {
	m   *Mapping
	imp Importer
	now time.Time
}

// NewConverter returns a converter for the columns of m. now is the time validation checks dates
// against.
func NewConverter(m *Mapping, imp Importer, now time.Time) *Converter {
	return &Converter{m: m, imp: imp, now: now}
}

// Convert turns one row into a normalised, validated customer (status potential unless given,
// owner and team assigned). When the row has issues the customer must not be created; every
// failing field is listed once, with the column it came from.
func (cv *Converter) Convert(row int, cells []string) (*customer.Customer, []Issue) {
	c := &customer.Customer{Status: customer.StatusPotential}
	var issues []Issue
	add := func(path, reason string, msg validate.Message) {
		issues = append(issues, Issue{Row: row, Column: cv.m.Column(path), Field: path, Reason: reason, Message: msg, Kind: KindError})
	}
	unknown := func(path string, e enum, label, value string) {
		zh, en := e.words()
		add(path, validate.ReasonUnknownCode, validate.Message{
			ZH: label + "“" + value + "”无效，可填写：" + zh,
			EN: "unknown " + path + " \"" + value + "\"; use one of: " + en})
	}
	for i, p := range cv.m.Paths {
		if p == "" || i >= len(cells) {
			continue
		}
		v := unneutralise(strings.TrimSpace(cells[i]))
		if v == "" {
			continue
		}
		if masked(p, v) {
			f, _ := LookupField(p)
			add(p, ReasonMaskedValue, validate.Message{
				ZH: f.ZH + "“" + v + "”是脱敏导出的值，不能导入：请使用管理员的未脱敏导出或原始资料",
				EN: f.EN + " \"" + v + "\" is a masked export value and cannot be imported: use an admin's unmasked export or the original data"})
			continue
		}
		switch p {
		case "name":
			c.Name = v
		case "type":
			if t, ok := typeEnum.parse(v); ok {
				c.Type = customer.Type(t)
			} else {
				unknown(p, typeEnum, "客户类型", v)
			}
		case "industry":
			c.Industry = parseIndustry(v)
		case "uscc":
			c.USCC = v
		case "contact_name":
			c.ContactName = v
		case "contact_title":
			c.ContactTitle = v
		case "mobile":
			c.Mobile = parseMobile(v)
		case "landline":
			c.Landline = v
		case "email":
			c.Email = v
		case "address.province":
			c.Address.Province = v
		case "address.city":
			c.Address.City = v
		case "address.district":
			c.Address.District = v
		case "address.street":
			c.Address.Street = v
		case "scale":
			if s, ok := scaleEnum.parse(v); ok {
				c.Scale = customer.Scale(s)
			} else {
				unknown(p, scaleEnum, "客户规模", v)
			}
		case "status":
			if s, ok := statusEnum.parse(v); ok {
				c.Status = customer.Status(s)
			} else {
				unknown(p, statusEnum, "客户状态", v)
			}
		case "source":
			if s, ok := sourceEnum.parse(v); ok {
				c.Source = customer.Source(s)
			} else {
				unknown(p, sourceEnum, "客户来源", v)
			}
		case "first_contact_date":
			if d, ok := parseDate(v); ok {
				c.FirstContactDate = d
			} else {
				add(p, validate.ReasonInvalidFormat, validate.Message{
					ZH: "首次接触时间“" + v + "”不是日期，请写成 2026-01-02",
					EN: "first contact date \"" + v + "\" is not a date; write it as 2026-01-02"})
			}
		case "owner_id":
			c.OwnerID = v
		case "team_id":
			c.TeamID = v
		case "estimated_annual_amount":
			if fen, ok := parseAmount(v); ok {
				c.AmountFen = &fen
			} else {
				add(p, validate.ReasonInvalidFormat, validate.Message{
					ZH: "年度预估合作金额“" + v + "”不是金额，请填写元为单位的数字，最多两位小数",
					EN: "estimated annual amount \"" + v + "\" is not an amount: give yuan with at most two decimals"})
			}
		case "remarks":
			c.Remarks = v
		}
	}
	cv.assignOwner(c, add)
	c.Normalise()
	var ve *validate.Error
	if err := c.Validate(cv.now); errors.As(err, &ve) {
		for _, v := range ve.Violations {
			if !hasField(issues, v.Field) {
				add(v.Field, v.Reason, v.Message)
			}
		}
	}
	return c, issues
}

// masked reports whether v looks like a personal-information value masked by an export (138****5678,
// 张**, w***@example.com, ****6888): importing it would store the asterisks as the value, or refuse
// it with a format error that does not say why.
func masked(path, v string) bool {
	switch path {
	case "mobile", "landline":
		return strings.Contains(v, "***")
	case "email":
		return strings.Contains(v, "***@")
	case "contact_name", "name":
		r := []rune(v)
		return len(r) > 1 && strings.Trim(string(r[1:]), "*") == ""
	}
	return false
}

func hasField(issues []Issue, field string) bool {
	for _, is := range issues {
		if is.Field == field {
			return true
		}
	}
	return false
}

// assignOwner applies CreateCustomer's ownership rules to a row: a sales rep owns what it
// imports, a manager assigns within its team, an admin anywhere.
func (cv *Converter) assignOwner(c *customer.Customer, add func(path, reason string, msg validate.Message)) {
	imp := cv.imp
	if c.OwnerID == "" {
		c.OwnerID = imp.DefaultOwnerID
	}
	if c.OwnerID == "" {
		c.OwnerID = imp.UserID
	}
	if c.TeamID == "" {
		c.TeamID = imp.DefaultTeamID
	}
	switch imp.Scope {
	case ScopeAll:
		if c.TeamID == "" {
			c.TeamID = imp.TeamID
		}
	case ScopeTeam:
		if c.TeamID != "" && c.TeamID != imp.TeamID {
			add("team_id", validate.ReasonNotAllowed, validate.Message{ZH: "部门负责人只能把客户分配给本团队", EN: "a manager can only assign customers within its team"})
		}
		c.TeamID = imp.TeamID
	default:
		if c.OwnerID != imp.UserID {
			add("owner_id", validate.ReasonNotAllowed, validate.Message{ZH: "销售人员只能导入自己负责的客户", EN: "a sales rep can only import customers it owns"})
		}
		if c.TeamID != "" && c.TeamID != imp.TeamID {
			add("team_id", validate.ReasonNotAllowed, validate.Message{ZH: "只能在自己的团队中导入客户", EN: "customers can only be imported into your own team"})
		}
		c.TeamID = imp.TeamID
	}
}

// Keys are the values duplicates are found by (SPEC §4): the folded name, mobile, USCC, e-mail.
type Keys struct {
	Name, Mobile, USCC, Email string
}

// KeysOf returns the duplicate keys of a normalised customer.
func KeysOf(c *customer.Customer) Keys {
	return Keys{Name: c.NameKey(), Mobile: c.Mobile, USCC: c.USCC, Email: c.Email}
}

// keyFields names the duplicate keys, USCC first (an exact match is the strongest).
var keyFields = [...]string{"uscc", "name", "mobile", "email"}

// seenKey is one duplicate key: the index of its field in keyFields and its value.
type seenKey struct {
	field uint8
	value string
}

// each calls fn with every non-empty key in the order of keyFields until fn returns false.
func (k Keys) each(fn func(key seenKey) bool) {
	for i, v := range [...]string{k.USCC, k.Name, k.Mobile, k.Email} {
		if v != "" && !fn(seenKey{uint8(i), v}) {
			return
		}
	}
}

// Seen remembers the keys of the rows of a file accepted so far, to find duplicates within it.
// A layer (Layer) holds the keys of one batch on top of its parent until Commit, so that a batch
// whose writes are retried can be decided again from the same state. Layers stack: a batch may be
// decided over the layer of an earlier batch whose writes have not committed yet. Seen is not
// safe for concurrent use.
type Seen struct {
	rows   map[seenKey]int
	parent *Seen
}

// NewSeen returns an empty memory.
func NewSeen() *Seen { return &Seen{rows: map[seenKey]int{}} }

// Layer returns an empty layer over s.
func (s *Seen) Layer() *Seen { return &Seen{rows: map[seenKey]int{}, parent: s} }

// Commit adds a layer's keys to the memory at the bottom of its stack, and leaves the layer
// empty on top of that memory, so that layers stacked on it stay correct and stacks stay short.
func (s *Seen) Commit() {
	if s.parent == nil {
		return
	}
	root := s.parent
	for root.parent != nil {
		root = root.parent
	}
	for k, row := range s.rows {
		if _, hit := root.rows[k]; !hit {
			root.rows[k] = row
		}
	}
	clear(s.rows)
	s.parent = root
}

func (s *Seen) lookup(k seenKey) (int, bool) {
	for ; s != nil; s = s.parent {
		if r, hit := s.rows[k]; hit {
			return r, true
		}
	}
	return 0, false
}

// Match returns the first earlier row sharing a key with k, and the field of that key.
func (s *Seen) Match(k Keys) (row int, field string, ok bool) {
	k.each(func(key seenKey) bool {
		if r, hit := s.lookup(key); hit {
			row, field, ok = r, keyFields[key.field], true
			return false
		}
		return true
	})
	return row, field, ok
}

// Add remembers the keys of an accepted row.
func (s *Seen) Add(row int, k Keys) {
	k.each(func(key seenKey) bool {
		if _, hit := s.lookup(key); !hit {
			s.rows[key] = row
		}
		return true
	})
}

// keyLabels name the duplicate keys in messages (Chinese, English).
var keyLabels = map[string][2]string{
	"uscc": {"统一社会信用代码", "USCC"}, "name": {"客户名称", "name"}, "mobile": {"手机号", "mobile"}, "email": {"邮箱", "e-mail"},
}

// DuplicateInFile is the issue of a row that repeats an earlier row of the same file.
func (cv *Converter) DuplicateInFile(row int, field string, first int) Issue {
	l := keyLabels[field]
	return Issue{Row: row, Column: cv.m.Column(field), Field: field, Reason: ReasonDuplicateInFile, Kind: KindDuplicate,
		Message: validate.Message{
			ZH: "与文件第 " + strconv.Itoa(first) + " 行重复（" + l[0] + "相同），已跳过",
			EN: "repeats row " + strconv.Itoa(first) + " of the file (same " + l[1] + "); skipped"}}
}

// DuplicateExisting is the issue of a row that matches an existing customer.
func (cv *Converter) DuplicateExisting(row int, field, existingID string) Issue {
	l := keyLabels[field]
	return Issue{Row: row, Column: cv.m.Column(field), Field: field, Reason: ReasonDuplicateExisting, Kind: KindDuplicate,
		Message: validate.Message{
			ZH: "与已有客户 " + existingID + " 重复（" + l[0] + "相同），已跳过",
			EN: "matches existing customer " + existingID + " (same " + l[1] + "); skipped"}}
}
