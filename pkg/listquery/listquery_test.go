package listquery

import (
	"errors"
	"testing"
	"time"

	"github.com/crmsuite/crm/pkg/validate"
)

type colour string

var fields = map[string]Field{
	"colour": {Kind: Enum, Canon: EnumCanon("COLOUR_", []colour{"red", "dark_blue"})},
	"owner":  {Kind: Text},
	"code":   {Kind: Text, Canon: func(v string) (string, bool) { return "X" + v, v != "bad" }},
	"done":   {Kind: Bool},
	"at":     {Kind: Time},
	"due":    {Kind: Date},
}

func reason(err error) string {
	var ve *validate.Error
	if errors.As(err, &ve) && len(ve.Violations) == 1 && ve.Violations[0].Field == "filter" {
		return ve.Violations[0].Reason
	}
	return ""
}

func TestParse(t *testing.T) {
	t.Parallel()
	got, err := Parse(`colour = COLOUR_DARK_BLUE and owner != "张 三" AND code=7 AND done = TRUE AND at >= 2026-11-01 AND due < "2026-12-31"`, fields)
	if err != nil {
		t.Fatal(err)
	}
	want := []Condition{
		{Field: "colour", Op: "=", Value: "dark_blue"},
		{Field: "owner", Op: "!=", Value: "张 三"},
		{Field: "code", Op: "=", Value: "X7"},
		{Field: "done", Op: "=", Value: "true"},
		{Field: "at", Op: ">=", Value: "2026-11-01", Time: time.Date(2026, 10, 31, 16, 0, 0, 0, time.UTC)},
		{Field: "due", Op: "<", Value: "2026-12-31", Time: time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i].Field != want[i].Field || got[i].Op != want[i].Op || got[i].Value != want[i].Value || !got[i].Time.Equal(want[i].Time) {
			t.Errorf("term %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if c, err := Parse("   ", fields); err != nil || len(c) != 0 {
		t.Errorf("blank filter: %v, %v", c, err)
	}
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{`colour = green`, `size = 1`, `colour > red`, `owner =`, `owner = a OR owner = b`,
		`owner = "open`, `at >= yesterday`, `due = 2026-13-01`, `done = yes`, `code = bad`, `owner ~ a`,
		`owner = a AND owner = a AND owner = a AND owner = a AND owner = a AND owner = a AND owner = a AND owner = a AND owner = a AND owner = a AND owner = a AND owner = a AND owner = a AND owner = a AND owner = a AND owner = a AND owner = a AND owner = a AND owner = a AND owner = a AND owner = a`} {
		if _, err := Parse(bad, fields); reason(err) != validate.ReasonInvalidFormat {
			t.Errorf("Parse(%q) = %v, want an INVALID_FORMAT violation on filter", bad, err)
		}
	}
}

func TestParseOrder(t *testing.T) {
	t.Parallel()
	allowed := []string{"create_time", "name"}
	def := Order{Field: "create_time", Desc: true}
	for in, want := range map[string]Order{"": def, "name": {"name", false}, "create_time DESC": {"create_time", true}, " name asc ": {"name", false}} {
		if got, err := ParseOrder(in, allowed, def); err != nil || got != want {
			t.Errorf("ParseOrder(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"mobile", "name up", "name desc x"} {
		if _, err := ParseOrder(bad, allowed, def); err == nil {
			t.Errorf("ParseOrder(%q) accepted", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(`colour = red AND at >= "2026-01-01T00:00:00Z"`)
	f.Add(`owner != "a b" and done = false`)
	f.Fuzz(func(t *testing.T, s string) {
		conds, err := Parse(s, fields)
		if err != nil && reason(err) == "" {
			t.Fatalf("error is not a filter violation: %v", err)
		}
		for _, c := range conds {
			if _, ok := fields[c.Field]; !ok {
				t.Fatalf("unknown field %q accepted", c.Field)
			}
		}
	})
}
