package need

import (
	"testing"
	"time"
)

func TestParseFilter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []Condition
		bad  bool
	}{
		{in: ""},
		{in: `stage = NEGOTIATION`, want: []Condition{{Field: "stage", Op: "=", Value: "negotiation"}}},
		{in: `stage != NEED_STAGE_LOST AND type = procurement`, want: []Condition{
			{Field: "stage", Op: "!=", Value: "lost"}, {Field: "type", Op: "=", Value: "procurement"}}},
		{in: `customer_id = "cust-20261123-0001" and owner_id=u-sales1`, want: []Condition{
			{Field: "customer_id", Op: "=", Value: "CUST-20261123-0001"}, {Field: "owner_id", Op: "=", Value: "u-sales1"}}},
		{in: `expected_close_date >= "2026-10-01" AND expected_close_date <= 2026-12-31`, want: []Condition{
			{Field: "expected_close_date", Op: ">=", Value: "2026-10-01", Time: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)},
			{Field: "expected_close_date", Op: "<=", Value: "2026-12-31", Time: time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)}}},
		{in: `create_time > 2026-11-01`},
		{in: `stage = signed`, bad: true},
		{in: `owner_id > u-a`, bad: true},
		{in: `expected_close_date >= 2026-02-30`, bad: true},
		{in: `create_time < yesterday`, bad: true},
		{in: `budget = 5`, bad: true},
		{in: `stage = WON OR stage = LOST`, bad: true},
		{in: `stage =`, bad: true},
		{in: `title = "unterminated`, bad: true},
		{in: `stage ~ WON`, bad: true},
	}
	for _, tt := range tests {
		got, err := ParseFilter(tt.in)
		if (err != nil) != tt.bad {
			t.Errorf("ParseFilter(%q) error = %v, want bad=%v", tt.in, err, tt.bad)
			continue
		}
		if violations(err)["filter"] != map[bool]string{true: "INVALID_FORMAT", false: ""}[tt.bad] {
			t.Errorf("ParseFilter(%q): violation %v", tt.in, err)
		}
		if tt.want == nil {
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("ParseFilter(%q) = %+v", tt.in, got)
			continue
		}
		for i, w := range tt.want {
			g := got[i]
			if g.Field != w.Field || g.Op != w.Op || g.Value != w.Value || !g.Time.Equal(w.Time) && !w.Time.IsZero() {
				t.Errorf("ParseFilter(%q)[%d] = %+v, want %+v", tt.in, i, g, w)
			}
		}
	}
	many := "stage = WON"
	for range 20 {
		many += " AND stage = WON"
	}
	if _, err := ParseFilter(many); err == nil {
		t.Error("21 terms accepted")
	}
}

func TestParseOrder(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Order{
		"": {Field: "create_time", Desc: true}, "update_time": {Field: "update_time"}, "expected_close_date desc": {Field: "expected_close_date", Desc: true},
		"create_time ASC": {Field: "create_time"},
	} {
		if got, err := ParseOrder(in); err != nil || got != want {
			t.Errorf("ParseOrder(%q) = %+v, %v", in, got, err)
		}
	}
	for _, in := range []string{"title", "create_time up", "create_time desc x"} {
		if _, err := ParseOrder(in); violations(err)["order_by"] != "INVALID_FORMAT" {
			t.Errorf("ParseOrder(%q) = %v", in, err)
		}
	}
}
