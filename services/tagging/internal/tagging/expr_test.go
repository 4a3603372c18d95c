package tagging

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/crmsuite/crm/pkg/validate"
)

func TestParseCanonicalForm(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, want string
	}{
		{"single tag", `tag:"战略客户"`, `tag:"战略客户"`},
		{"bare word value", `tag:战略客户`, `tag:"战略客户"`},
		{"category qualifier", `NEED:"系统集成"`, `need:"系统集成"`},
		{"behaviour alias", `behaviour:定期采购`, `behavior:"定期采购"`},
		{"level tag vs level attribute", `level:"高价值" AND level = HIGH`, `(level:"高价值" AND level = "high")`},
		{"level none", `level != none`, `level != "none"`},
		{"level in Chinese", `level = 低价值`, `level = "low"`},
		{"AND binds tighter than OR", `tag:a OR tag:b AND tag:c`, `(tag:"a" OR (tag:"b" AND tag:"c"))`},
		{"AND binds tighter than OR on the left", `tag:a AND tag:b OR tag:c`, `((tag:"a" AND tag:"b") OR tag:"c")`},
		{"NOT binds tighter than AND", `NOT tag:a AND tag:b`, `(NOT tag:"a" AND tag:"b")`},
		{"NOT binds tighter than OR", `NOT tag:a OR tag:b`, `(NOT tag:"a" OR tag:"b")`},
		{"parentheses override", `tag:a AND (tag:b OR tag:c)`, `(tag:"a" AND (tag:"b" OR tag:"c"))`},
		{"NOT of a group", `NOT (tag:a OR tag:b)`, `NOT (tag:"a" OR tag:"b")`},
		{"double NOT", `not not tag:a`, `NOT NOT tag:"a"`},
		{"flattened AND", `tag:a AND (tag:b AND tag:c) AND tag:d`, `(tag:"a" AND tag:"b" AND tag:"c" AND tag:"d")`},
		{"lower-case keywords", `tag:a or tag:b and not tag:c`, `(tag:"a" OR (tag:"b" AND NOT tag:"c"))`},
		{"quoted keyword is a value", `tag:"AND" AND tag:"OR"`, `(tag:"AND" AND tag:"OR")`},
		{"escapes", `tag:"say \"hi\" \\ bye"`, `tag:"say \"hi\" \\ bye"`},
		{"attributes", `owner_id = "u-sales1" AND team_id != east AND type = CUSTOMER_TYPE_ENTERPRISE AND status = Active AND province = 广东`,
			`(owner_id = "u-sales1" AND team_id != "east" AND type = "enterprise" AND status = "active" AND province = "广东省")`},
		{"the issue's example", `tag:"战略客户" AND (tag:"系统集成" OR NOT tag:"价格敏感") AND level = high AND owner_id = "u-sales1"`,
			`(tag:"战略客户" AND (tag:"系统集成" OR NOT tag:"价格敏感") AND level = "high" AND owner_id = "u-sales1")`},
		{"no spaces", `(tag:a)AND(level=high)`, `(tag:"a" AND level = "high")`},
		{"tag id", `tag:T20261123001`, `tag:"T20261123001"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e, err := Parse(c.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", c.in, err)
			}
			if got := e.String(); got != c.want {
				t.Fatalf("Parse(%q) = %s, want %s", c.in, got, c.want)
			}
			again, err := Parse(e.String())
			if err != nil || again.String() != c.want {
				t.Fatalf("canonical form does not parse back: %v %v", again, err)
			}
		})
	}
}

func TestParseTree(t *testing.T) {
	t.Parallel()
	e, err := Parse(`tag:a OR NOT need:b AND level = high`)
	if err != nil {
		t.Fatal(err)
	}
	if e.Kind != KindOr || len(e.Args) != 2 || e.Pos != 7 {
		t.Fatalf("root = %+v", e)
	}
	and := e.Args[1]
	if and.Kind != KindAnd || and.Args[0].Kind != KindNot || and.Args[0].Pos != 10 {
		t.Fatalf("right = %s (%+v)", and, and.Args[0])
	}
	need := and.Args[0].Args[0]
	if need.Kind != KindTag || need.Tag != (TagRef{Category: CategoryNeed, Value: "b"}) || need.Pos != 14 {
		t.Fatalf("need term = %+v", need)
	}
	lvl := and.Args[1]
	if lvl.Kind != KindAttr || lvl.Cond != (Condition{Field: AttrLevel, Value: "high"}) {
		t.Fatalf("level term = %+v", lvl)
	}
	var refs []string
	for _, x := range e.Tags() {
		refs = append(refs, string(x.Tag.Category)+"/"+x.Tag.Value)
	}
	if strings.Join(refs, ",") != "/a,need/b" {
		t.Fatalf("tags = %v", refs)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in string
		pos      int
		reason   string
		en       string
	}{
		{"empty", ``, 1, validate.ReasonRequired, "empty"},
		{"blank", `   `, 1, validate.ReasonRequired, "empty"},
		{"missing operand", `tag:a AND`, 10, validate.ReasonInvalidFormat, "a term is missing"},
		{"missing operator", `tag:a tag:b`, 7, validate.ReasonInvalidFormat, "expected AND or OR, got tag"},
		{"unclosed parenthesis", `(tag:a OR tag:b`, 16, validate.ReasonInvalidFormat, "expected ) to close the ( at character 1"},
		{"extra parenthesis", `tag:a)`, 6, validate.ReasonInvalidFormat, "unmatched closing parenthesis"},
		{"empty parentheses", `()`, 2, validate.ReasonInvalidFormat, "expected a term"},
		{"unterminated quote", `tag:"abc`, 5, validate.ReasonInvalidFormat, "unterminated"},
		{"bad escape", `tag:"a\nb"`, 7, validate.ReasonInvalidFormat, "escaped"},
		{"lone bang", `!tag:a`, 1, validate.ReasonInvalidFormat, "use NOT"},
		{"unknown category", `colour:red`, 1, validate.ReasonUnknownCode, "unknown tag category"},
		{"unknown attribute", `tag:a AND revenue = 5`, 11, validate.ReasonUnknownCode, "unknown attribute"},
		{"bad level", `level = gold`, 9, validate.ReasonUnknownCode, "level must be"},
		{"bad type", `type = company`, 8, validate.ReasonUnknownCode, "type must be one of"},
		{"bad status", `status = CUSTOMER_STATUS_GONE`, 10, validate.ReasonUnknownCode, "status must be one of"},
		{"bad province", `province = 火星`, 12, validate.ReasonUnknownCode, "unknown province"},
		{"empty owner", `owner_id = ""`, 12, validate.ReasonUnknownCode, "1 to 64"},
		{"empty tag", `tag:"  "`, 5, validate.ReasonRequired, "tag name is empty"},
		{"missing value", `tag: AND tag:b`, 6, validate.ReasonInvalidFormat, "expected a value, got AND"},
		{"keyword as term", `AND tag:a`, 1, validate.ReasonInvalidFormat, "expected a term"},
		{"name without operator", `战略客户`, 5, validate.ReasonInvalidFormat, "expected “:”"},
		{"greater than", `level > high`, 7, validate.ReasonInvalidFormat, "expected “:”"},
		{"position counts characters, not bytes", `tag:战略客户 OR 价格`, 15, validate.ReasonInvalidFormat, "expected “:”"},
		{"too deep", strings.Repeat("(", 21) + "tag:a" + strings.Repeat(")", 21), 21, validate.ReasonOutOfRange, "nest"},
		{"too many NOTs", strings.Repeat("NOT ", 21) + "tag:a", 81, validate.ReasonOutOfRange, "nest"},
		{"too many terms", strings.TrimSuffix(strings.Repeat("tag:a OR ", 51), " OR "), 451, validate.ReasonOutOfRange, "at most 50 terms"},
		{"too long", "tag:" + strings.Repeat("a", 1000), 1001, validate.ReasonTooLong, "at most 1000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e, err := Parse(c.in)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) = %v, %v; want a ParseError", c.in, e, err)
			}
			if pe.Pos != c.pos || pe.Reason != c.reason || !strings.Contains(pe.EN, c.en) {
				t.Fatalf("Parse(%q): pos %d reason %s %q; want pos %d reason %s containing %q", c.in, pe.Pos, pe.Reason, pe.EN, c.pos, c.reason, c.en)
			}
			if msg := pe.Message(); !strings.Contains(msg.ZH, "第") || pe.ZH == "" || !strings.Contains(msg.EN, "at character") {
				t.Fatalf("message = %+v", msg)
			}
		})
	}
}

// FuzzParse checks that no input makes the parser panic, that errors point inside (or just past)
// the input, and that a parsed expression's canonical form parses back to itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`tag:"战略客户" AND (tag:"系统集成" OR NOT tag:"价格敏感") AND level = high AND owner_id = "u-sales1"`,
		`NOT (need:a OR behavior:"b\"c") AND province = 广东 AND status != lost`,
		`((((tag:a))))`, `tag:"unterminated`, `!=`, `a:b:c`, `level = none OR type = CUSTOMER_TYPE_OTHER`, "\xff\xfe",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) returned %T, want *ParseError", s, err)
			}
			if n := utf8.RuneCountInString(s); pe.Pos < 1 || pe.Pos > n+1 {
				t.Fatalf("Parse(%q): position %d outside 1..%d", s, pe.Pos, n+1)
			}
			return
		}
		canon := e.String()
		again, err := Parse(canon)
		if err != nil {
			// The canonical form quotes every value and adds parentheses, so it can only outgrow the
			// length limit; it must never become a syntax error.
			var pe *ParseError
			if errors.As(err, &pe) && (pe.Reason == validate.ReasonTooLong || pe.Reason == validate.ReasonOutOfRange) {
				return
			}
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, s, err)
		}
		if again.String() != canon {
			t.Fatalf("canonical form is not stable: %q → %q", canon, again.String())
		}
	})
}
