package customer

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/crmsuite/crm/pkg/customerref"
	"github.com/crmsuite/crm/pkg/validate"
)

var now = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// valid returns a complete, valid enterprise customer.
func valid() *Customer {
	return &Customer{
		Name: "深圳市腾讯计算机系统有限公司", Type: TypeEnterprise, Industry: "I65", USCC: "91440300192176077R",
		ContactName: "张伟", ContactTitle: "采购经理", Mobile: "13812345678", Landline: "0755-86013388",
		Email: "zhangwei@example.com", Address: Address{Province: "广东省", City: "深圳市", District: "南山区", Street: "科技中一路"},
		Scale: ScaleOver1000, Status: StatusPotential, Source: SourceExhibition, OwnerID: "u-sales1", TeamID: "east",
	}
}

func violations(err error) map[string]string {
	out := map[string]string{}
	var ve *validate.Error
	if errors.As(err, &ve) {
		for _, v := range ve.Violations {
			out[v.Field] = v.Reason
		}
	}
	return out
}

func TestValidateAcceptsCompleteCustomer(t *testing.T) {
	t.Parallel()
	c := valid()
	c.Normalise()
	if err := c.Validate(now); err != nil {
		t.Fatalf("valid customer refused: %v", err)
	}
}

func TestValidateNamesEveryFailingField(t *testing.T) {
	t.Parallel()
	amount := int64(100)
	future := Date{Year: 2030, Month: 1, Day: 1}
	tests := []struct {
		name   string
		change func(c *Customer)
		want   map[string]string
	}{
		{"empty record", func(c *Customer) { *c = Customer{Status: StatusPotential} }, map[string]string{
			"name": "REQUIRED", "type": "REQUIRED", "contact_name": "REQUIRED", "mobile": "REQUIRED",
			"address.province": "REQUIRED", "address.city": "REQUIRED", "scale": "REQUIRED"}},
		{"placeholder name", func(c *Customer) { c.Name = "某公司" }, map[string]string{"name": "PLACEHOLDER"}},
		{"name of 51 runes", func(c *Customer) { c.Name = string(slices.Repeat([]rune("中"), 51)) }, map[string]string{"name": "TOO_LONG"}},
		{"name of 50 runes is fine", func(c *Customer) {
			c.Name = string([]rune("北京市海淀区中关村软件园二期西北旺东路十号院东区十四号楼广联达信息大厦研发中心测试部门第三组研究所一二三")[:50])
		}, map[string]string{}},
		{"enterprise without industry", func(c *Customer) { c.Industry = "" }, map[string]string{"industry": "REQUIRED"}},
		{"individual without industry", func(c *Customer) {
			c.Type, c.Industry, c.USCC, c.Scale = TypeIndividual, "", "", ScaleIndividualStd
		}, map[string]string{}},
		{"unknown industry", func(c *Customer) { c.Industry = "Z99" }, map[string]string{"industry": "UNKNOWN_CODE"}},
		{"uscc check char", func(c *Customer) { c.USCC = "91440300192176077Q" }, map[string]string{"uscc": "INVALID_CHECKSUM"}},
		{"uscc too short", func(c *Customer) { c.USCC = "9144030019217607" }, map[string]string{"uscc": "INVALID_FORMAT"}},
		{"mobile 10 digits", func(c *Customer) { c.Mobile = "1381234567" }, map[string]string{"mobile": "INVALID_FORMAT"}},
		{"mobile starting 12", func(c *Customer) { c.Mobile = "12812345678" }, map[string]string{"mobile": "INVALID_FORMAT"}},
		{"landline without area code", func(c *Customer) { c.Landline = "86013388" }, map[string]string{"landline": "INVALID_FORMAT"}},
		{"email without dot", func(c *Customer) { c.Email = "a@localhost" }, map[string]string{"email": "INVALID_FORMAT"}},
		{"unknown province", func(c *Customer) { c.Address.Province = "火星" }, map[string]string{"address.province": "UNKNOWN_CODE"}},
		{"individual scale for enterprise", func(c *Customer) { c.Scale = ScaleIndividualPremium }, map[string]string{"scale": "NOT_ALLOWED"}},
		{"employee band for individual", func(c *Customer) { c.Type, c.USCC = TypeIndividual, "" }, map[string]string{"scale": "NOT_ALLOWED"}},
		{"amount for potential customer", func(c *Customer) { c.AmountFen = &amount }, map[string]string{"estimated_annual_amount": "NOT_ALLOWED"}},
		{"amount for intention customer", func(c *Customer) { c.AmountFen, c.Status = &amount, StatusIntention }, map[string]string{}},
		{"first contact in future", func(c *Customer) { c.FirstContactDate = &future }, map[string]string{"first_contact_date": "IN_FUTURE"}},
		{"impossible date", func(c *Customer) { c.FirstContactDate = &Date{Year: 2025, Month: 2, Day: 30} }, map[string]string{"first_contact_date": "INVALID_FORMAT"}},
		{"remarks of 201 runes", func(c *Customer) { c.Remarks = string(slices.Repeat([]rune("备"), 201)) }, map[string]string{"remarks": "TOO_LONG"}},
		{"consent without purpose", func(c *Customer) { c.Consent = &Consent{ObtainedAt: &now} }, map[string]string{"consent.purpose": "REQUIRED"}},
		{"contact title of 31 runes", func(c *Customer) { c.ContactTitle = string(slices.Repeat([]rune("职"), 31)) }, map[string]string{"contact_title": "TOO_LONG"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := valid()
			tt.change(c)
			c.Normalise()
			got := violations(c.Validate(now))
			if len(got) != len(tt.want) {
				t.Fatalf("violations = %v, want %v", got, tt.want)
			}
			for f, r := range tt.want {
				if got[f] != r {
					t.Errorf("field %s: reason %q, want %q (all: %v)", f, got[f], r, got)
				}
			}
		})
	}
}

func TestNormaliseCanonicalisesValues(t *testing.T) {
	t.Parallel()
	c := valid()
	c.Mobile, c.Address.Province, c.Industry, c.USCC, c.Name = "+86 138 1234 5678", "广东", "i65", "91440300192176077r", "  深圳市腾讯计算机系统有限公司 "
	c.Normalise()
	if c.Mobile != "13812345678" || c.Address.Province != "广东省" || c.Industry != "I65" || c.USCC != "91440300192176077R" || c.Name != "深圳市腾讯计算机系统有限公司" {
		t.Fatalf("not normalised: %+v", c)
	}
}

func TestStatusTransitions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from, to Status
		ok       bool
	}{
		{StatusPotential, StatusIntention, true},
		{StatusIntention, StatusActive, true},
		{StatusActive, StatusPaused, true},
		{StatusPaused, StatusActive, true},
		{StatusActive, StatusLost, true},
		{StatusLost, StatusIntention, true},
		{StatusPotential, StatusActive, false},
		{StatusPotential, StatusPaused, false},
		{StatusLost, StatusActive, false},
		{StatusActive, StatusActive, false},
		{StatusActive, StatusPotential, false},
	}
	for _, tt := range tests {
		c := &Customer{Status: tt.from}
		err := c.ChangeStatus(tt.to, "u-1", now)
		if (err == nil) != tt.ok {
			t.Errorf("%s → %s: err = %v, want ok=%v", tt.from, tt.to, err, tt.ok)
			continue
		}
		if tt.ok && (c.Status != tt.to || c.StatusChangedBy != "u-1" || !c.StatusChangedAt.Equal(now)) {
			t.Errorf("%s → %s not recorded: %+v", tt.from, tt.to, c)
		}
		if !tt.ok && !errors.Is(err, ErrIllegalTransition) {
			t.Errorf("%s → %s: error %v is not ErrIllegalTransition", tt.from, tt.to, err)
		}
	}
}

func TestApplyMask(t *testing.T) {
	t.Parallel()
	patch := &Customer{Mobile: "13900000000", Name: "新名称有限公司", Address: Address{City: "广州市"}}
	t.Run("copies only masked fields", func(t *testing.T) {
		c := valid()
		if err := c.ApplyMask(patch, []string{"mobile", "address.city"}, false); err != nil {
			t.Fatal(err)
		}
		if c.Mobile != "13900000000" || c.Address.City != "广州市" || c.Name != valid().Name || c.Address.Province != "广东省" {
			t.Fatalf("wrong result %+v", c)
		}
	})
	t.Run("key fields need admin", func(t *testing.T) {
		c := valid()
		got := violations(c.ApplyMask(patch, []string{"name", "mobile"}, false))
		if got["name"] != "NOT_ALLOWED" || c.Name != valid().Name {
			t.Fatalf("key field changed or not refused: %v %q", got, c.Name)
		}
		if err := c.ApplyMask(patch, []string{"name"}, true); err != nil || c.Name != patch.Name {
			t.Fatalf("admin change refused: %v", err)
		}
	})
	t.Run("status and unknown paths refused", func(t *testing.T) {
		c := valid()
		if got := violations(c.ApplyMask(patch, []string{"status"}, true)); got["update_mask"] != "NOT_ALLOWED" {
			t.Fatalf("status accepted: %v", got)
		}
		if got := violations(c.ApplyMask(patch, []string{"created_by"}, true)); got["update_mask"] != "NOT_ALLOWED" {
			t.Fatalf("unknown path accepted: %v", got)
		}
		if got := violations(c.ApplyMask(patch, nil, true)); got["update_mask"] != "REQUIRED" {
			t.Fatalf("empty mask accepted: %v", got)
		}
	})
	t.Run("whole address", func(t *testing.T) {
		c := valid()
		if err := c.ApplyMask(patch, []string{"address"}, false); err != nil {
			t.Fatal(err)
		}
		if c.Address != patch.Address {
			t.Fatalf("address = %+v", c.Address)
		}
	})
}

func TestDiff(t *testing.T) {
	t.Parallel()
	before := valid()
	after := valid()
	after.Mobile = "13900000000"
	after.Landline = ""
	fen := int64(123456)
	after.AmountFen = &fen
	got := Diff(before, after)
	want := []Change{
		{Field: "mobile", Before: "13812345678", After: "13900000000"},
		{Field: "landline", Before: "0755-86013388", After: nil},
		{Field: "estimated_annual_amount", Before: nil, After: "1234.56"},
	}
	if len(got) != len(want) {
		t.Fatalf("diff = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("change %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if n := len(Diff(nil, valid())); n < 10 {
		t.Errorf("diff of a new customer lists %d fields", n)
	}
	if d := Diff(valid(), valid()); len(d) != 0 {
		t.Errorf("equal customers differ: %+v", d)
	}
}

// TestDiffListsWhatProjectionsWatch guards the projections of other services, which leave their
// rows alone on an update whose change list names none of the fields they hold
// (customerref.Change.Touches): each of those fields must be listed when it changes.
func TestDiffListsWhatProjectionsWatch(t *testing.T) {
	t.Parallel()
	deleted := now
	edits := map[string]func(c *Customer){
		"owner_id":         func(c *Customer) { c.OwnerID = "u-sales2" },
		"team_id":          func(c *Customer) { c.TeamID = "west" },
		"delete_time":      func(c *Customer) { c.DeletedAt = &deleted },
		"merged_into":      func(c *Customer) { c.MergedInto = "CUST-20261123-0001" },
		"type":             func(c *Customer) { c.Type = TypeIndividual },
		"status":           func(c *Customer) { c.Status = StatusIntention },
		"address.province": func(c *Customer) { c.Address.Province = "浙江省" },
	}
	// customerref.RefFields, and the tagging service's customer_attrs (type, status, province).
	watched := append(slices.Clone(customerref.RefFields), "type", "status", "address.province")
	for _, f := range watched {
		edit, ok := edits[f]
		if !ok {
			t.Errorf("no edit of %s in this test", f)
			continue
		}
		after := valid()
		edit(after)
		if !slices.ContainsFunc(Diff(valid(), after), func(c Change) bool { return c.Field == f }) {
			t.Errorf("Diff does not list a change of %s", f)
		}
	}
}

func TestParseFilter(t *testing.T) {
	t.Parallel()
	got, err := ParseFilter(`type = CUSTOMER_TYPE_ENTERPRISE AND status != lost AND province = "广东" AND create_time >= "2026-01-01T00:00:00Z" and scale = SCALE_OVER_1000 AND industry = c`)
	if err != nil {
		t.Fatal(err)
	}
	want := []Condition{
		{Field: "type", Op: "=", Value: "enterprise"},
		{Field: "status", Op: "!=", Value: "lost"},
		{Field: "province", Op: "=", Value: "广东省"},
		{Field: "create_time", Op: ">=", Value: "2026-01-01T00:00:00Z", Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Field: "scale", Op: "=", Value: "1000+"},
		{Field: "industry", Op: "=", Value: "C"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i].Field != want[i].Field || got[i].Op != want[i].Op || got[i].Value != want[i].Value || !got[i].Time.Equal(want[i].Time) {
			t.Errorf("term %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{`type = alien`, `name = "x"`, `type > enterprise`, `type =`, `type = enterprise OR status = lost`,
		`province = "广东`, `create_time >= yesterday`, `owner_id ~ x`} {
		if _, err := ParseFilter(bad); violations(err)["filter"] != "INVALID_FORMAT" {
			t.Errorf("filter %q: err = %v, want an INVALID_FORMAT violation", bad, err)
		}
	}
	if c, err := ParseFilter("  "); err != nil || len(c) != 0 {
		t.Errorf("blank filter: %v %v", c, err)
	}
}

func TestParseOrder(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Order{"": {Field: "create_time", Desc: true}, "name": {Field: "name"}, "update_time desc": {Field: "update_time", Desc: true}, "name ASC": {Field: "name"}} {
		got, err := ParseOrder(in)
		if err != nil || got != want {
			t.Errorf("ParseOrder(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"mobile", "name up", "name desc x"} {
		if _, err := ParseOrder(bad); err == nil {
			t.Errorf("ParseOrder(%q) accepted", bad)
		}
	}
}

func TestMasked(t *testing.T) {
	t.Parallel()
	c := valid()
	m := c.Masked()
	if m.Mobile != "138****5678" || m.ContactName != "张*" || m.Name != c.Name || m.Email != "z***@example.com" || m.Address.Street != "" {
		t.Fatalf("masked = %+v", m)
	}
	if c.Mobile != "13812345678" {
		t.Fatal("Masked changed the original")
	}
	p := &Customer{Type: TypeIndividual, Name: "欧阳娜娜"}
	if got := p.Masked().Name; got != "欧***" {
		t.Fatalf("individual name masked as %q", got)
	}
}

func TestWarnings(t *testing.T) {
	t.Parallel()
	c := valid()
	c.ContactName = "李总"
	if w := c.Warnings(); len(w) != 1 || w[0].Field != "contact_name" {
		t.Fatalf("warnings = %+v", w)
	}
	if w := valid().Warnings(); len(w) != 0 {
		t.Fatalf("real name warned: %+v", w)
	}
}
