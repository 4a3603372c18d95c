package scenario

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/crmsuite/crm/deploy/bench/internal/seed"
)

var layout = seed.NewLayout(1_000_000, time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))

// literalVariable returns the first SQL string literal of s that holds ':name', which pgbench
// would take for a variable.
func literalVariable(s string) string {
	in, start := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\'' && !in:
			in, start = true, i
		case s[i] == '\'' && in:
			in = false
		case in && s[i] == ':' && i+1 < len(s) && isVarByte(s[i+1]):
			end := strings.IndexByte(s[i:], '\'')
			return s[start : i+max(end, 0)+1]
		}
	}
	return ""
}

func isVarByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

func TestScriptsRender(t *testing.T) {
	t.Parallel()
	p := ScriptParams{FirstDay: "2023-11-24", PerDay: 914, Customers: 1_000_000, Keywords: 2000, KeywordTable: "bench_keywords",
		PayloadCreated: 1500, PayloadUpdated: 1400, PayloadFollowUp: 700}
	for name := range scripts {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, err := Script(name, p)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(s, "{{") || strings.Contains(s, "<no value>") {
				t.Fatalf("unfilled template:\n%s", s)
			}
			if m := literalVariable(s); m != "" {
				t.Fatalf("string literal %s holds what pgbench takes for a variable", m)
			}
		})
	}
	if _, err := Script("nope", p); err == nil {
		t.Fatal("unknown script accepted")
	}
}

func TestKeywordMix(t *testing.T) {
	t.Parallel()
	kws := Keywords(layout, 1000)
	kinds := map[string]int{}
	for _, k := range kws {
		kinds[k.Kind]++
		if utf8.RuneCountInString(k.Query) < 2 {
			t.Fatalf("keyword %q is shorter than the service accepts", k.Query)
		}
	}
	want := map[string]int{"trade name": 400, "full name": 200, "contact": 200, "mobile": 100, "mobile prefix": 100}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%s: %d keywords, want %d (all: %v)", k, kinds[k], n, kinds)
		}
	}
	for _, k := range ShortKeywords(layout, 50) {
		if utf8.RuneCountInString(k.Query) != 2 {
			t.Fatalf("short keyword %q", k.Query)
		}
	}
}

func TestListFilterUsesSeededValues(t *testing.T) {
	t.Parallel()
	for i := range 100 {
		team, status, province := ListFilter(i)
		if !strings.HasPrefix(team, "t") || status == "" || !strings.HasSuffix(province, "省") && !strings.HasSuffix(province, "市") {
			t.Fatalf("filter %d: %s %s %s", i, team, status, province)
		}
	}
}

func TestLiteralVariable(t *testing.T) {
	t.Parallel()
	tests := []struct{ sql, want string }{
		{`SELECT 'mobile:197' || x`, `'mobile:197'`},
		{`SELECT 'mobile:' || '197' || :mob::text`, ``},
		{`SELECT DATE '2023-11-24' + :i / 914, 'YYYYMMDD'`, ``},
	}
	for _, tt := range tests {
		if got := literalVariable(tt.sql); got != tt.want {
			t.Errorf("literalVariable(%q) = %q, want %q", tt.sql, got, tt.want)
		}
	}
}
