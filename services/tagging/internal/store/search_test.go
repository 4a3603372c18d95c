package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	"github.com/crmsuite/crm/services/tagging/internal/store"
	"github.com/crmsuite/crm/services/tagging/internal/tagging"
)

// searchFixture is a small population of customers with known tags and attributes:
//
//	C1 u-sales1/east enterprise active 广东  战略客户 系统集成         high
//	C2 u-sales1/east individual potential 江苏 系统集成 价格敏感 vip  medium
//	C3 u-sales2/east enterprise lost 广东    战略客户 价格敏感          high
//	C4 u-sales3/west institution active 北京 定期采购                  —
//	C5 u-sales1/east enterprise active 广东  战略客户                  high   deleted
//	C6 u-sales3/west partner intention 上海  —                        low    merged into C4
//	C7 u-sales2/east (attributes unknown)   系统集成                  low
type searchFixture struct {
	st   *store.Store
	tags map[string]string // name → id
}

func cust(n int) string { return fmt.Sprintf("CUST-20260101-%04d", n) }

func newSearchFixture(t *testing.T) searchFixture {
	t.Helper()
	st, pool := newStore(t)
	ctx := context.Background()
	f := searchFixture{st: st, tags: map[string]string{}}
	for _, d := range []struct {
		c    tagging.Category
		name string
	}{{tagging.CategorySource, "战略客户"}, {tagging.CategoryNeed, "系统集成"}, {tagging.CategoryBehavior, "价格敏感"},
		{tagging.CategoryBehavior, "定期采购"}, {tagging.CategoryCustom, "VIP"}} {
		f.tags[d.name] = newTag(t, st, d.c, d.name).ID
	}
	f.tags["high"], f.tags["medium"], f.tags["low"] = tagHigh, tagMedium, tagLow
	type row struct {
		owner, team, merged string
		typ                 customerv1.CustomerType
		status              customerv1.CustomerStatus
		province            string
		tags                []string
	}
	const (
		ent = customerv1.CustomerType_CUSTOMER_TYPE_ENTERPRISE
		act = customerv1.CustomerStatus_CUSTOMER_STATUS_ACTIVE
	)
	rows := []row{
		1: {"u-sales1", "east", "", ent, act, "广东", []string{"战略客户", "系统集成", "high"}},
		2: {"u-sales1", "east", "", customerv1.CustomerType_CUSTOMER_TYPE_INDIVIDUAL, customerv1.CustomerStatus_CUSTOMER_STATUS_POTENTIAL, "江苏省", []string{"系统集成", "价格敏感", "VIP", "medium"}},
		3: {"u-sales2", "east", "", ent, customerv1.CustomerStatus_CUSTOMER_STATUS_LOST, "广东省", []string{"战略客户", "价格敏感", "high"}},
		4: {"u-sales3", "west", "", customerv1.CustomerType_CUSTOMER_TYPE_INSTITUTION, act, "北京", []string{"定期采购"}},
		5: {"u-sales1", "east", "", ent, act, "广东", []string{"战略客户", "high"}},
		6: {"u-sales3", "west", cust(4), customerv1.CustomerType_CUSTOMER_TYPE_PARTNER, customerv1.CustomerStatus_CUSTOMER_STATUS_INTENTION, "上海", []string{"low"}},
		7: {"u-sales2", "east", "", 0, 0, "", []string{"系统集成", "low"}},
	}
	for i, r := range rows[1:] {
		n := i + 1
		customer(t, pool, cust(n), r.owner, r.team, false, "")
		if r.province != "" {
			if err := st.ApplyCustomerEvent(ctx, customerEvent(t, cust(n), 1, r.typ, r.status, r.province)); err != nil {
				t.Fatal(err)
			}
		}
		for _, name := range r.tags {
			assign(t, st, cust(n), f.tags[name])
		}
	}
	// Deleting and merging happen after tagging: such customers keep their tags but never match.
	if _, err := pool.Exec(ctx, `UPDATE customer_refs SET deleted = true WHERE customer_id = $1`, cust(5)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE customer_refs SET merged_into = $2 WHERE customer_id = $1`, cust(6), cust(4)); err != nil {
		t.Fatal(err)
	}
	return f
}

// search evaluates an expression page by page and returns the customers' numbers.
func (f searchFixture) search(t *testing.T, expr string, reach store.Reach, pageSize int) []string {
	t.Helper()
	e, err := tagging.Parse(expr)
	if err != nil {
		t.Fatalf("parse %q: %v", expr, err)
	}
	var refs []tagging.TagRef
	for _, x := range e.Tags() {
		refs = append(refs, x.Tag)
	}
	resolved, err := f.st.ResolveTags(context.Background(), refs)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	after := ""
	for range 20 {
		ids, next, err := f.st.Search(context.Background(), store.SearchInput{Expr: e, Tags: resolved, Reach: reach, PageSize: pageSize, After: after})
		if err != nil {
			t.Fatalf("search %q: %v", expr, err)
		}
		if len(ids) > pageSize {
			t.Fatalf("page of %d > %d", len(ids), pageSize)
		}
		for _, id := range ids {
			out = append(out, "C"+strings.TrimLeft(strings.TrimPrefix(id, "CUST-20260101-"), "0"))
		}
		if next == "" {
			return out
		}
		after = next
	}
	t.Fatal("too many pages")
	return nil
}

func TestSearchEvaluatesExpressions(t *testing.T) {
	t.Parallel()
	f := newSearchFixture(t)
	all := store.Reach{}
	cases := []struct {
		expr string
		want string
	}{
		{`tag:"战略客户"`, "C1 C3"},
		{`tag:"战略客户" AND (tag:"系统集成" OR NOT tag:"价格敏感") AND level = high AND owner_id = "u-sales1"`, "C1"},
		{`level = high`, "C1 C3"},
		{`level = none`, "C4"},
		{`level != high`, "C2 C4 C7"},
		{`level:"高价值"`, "C1 C3"},
		{`NOT tag:"价格敏感"`, "C1 C4 C7"},
		{`need:"系统集成"`, "C1 C2 C7"},
		{`source:"系统集成"`, ""}, // the tag exists, but not in that category
		{`tag:"定期采购" OR tag:"战略客户" AND tag:"价格敏感"`, "C3 C4"},
		{`(tag:"定期采购" OR tag:"战略客户") AND tag:"价格敏感"`, "C3"},
		{`NOT tag:"战略客户" AND NOT tag:"系统集成"`, "C4"},
		{`NOT (tag:"战略客户" OR tag:"系统集成")`, "C4"},
		{`type = enterprise AND province = 广东`, "C1 C3"},
		{`status != active`, "C2 C3 C7"},
		{`status = active OR type = individual`, "C1 C2 C4"},
		{`team_id = west`, "C4"},
		{`owner_id = "u-sales2" AND level = low`, "C7"},
		{`tag:"` + f.tags["定期采购"] + `"`, "C4"},
		{`tag:"` + strings.ToLower(f.tags["定期采购"]) + `"`, "C4"},
		{`tag:"ｖｉｐ"`, "C2"},
		{`NOT tag:"没有这个标签"`, "C1 C2 C3 C4 C7"},
		{`tag:"没有这个标签"`, ""},
		{`owner_id = "x' OR '1'='1"`, ""},
		{`tag:"a'); DROP TABLE tags; --"`, ""},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			if got := strings.Join(f.search(t, c.expr, all, 100), " "); got != c.want {
				t.Fatalf("%s → [%s], want [%s]", c.expr, got, c.want)
			}
		})
	}
	// The tags table survived the attempted injection.
	if _, err := f.st.GetTag(context.Background(), tagHigh); err != nil {
		t.Fatal(err)
	}
}

func TestSearchIsScopedAndPaged(t *testing.T) {
	t.Parallel()
	f := newSearchFixture(t)
	cases := []struct {
		name  string
		expr  string
		reach store.Reach
		want  string
	}{
		{"sales rep sees its own", `level = high`, store.Reach{OwnerID: "u-sales1"}, "C1"},
		{"another rep", `level = high`, store.Reach{OwnerID: "u-sales2"}, "C3"},
		{"team east", `NOT tag:"定期采购"`, store.Reach{TeamID: "east"}, "C1 C2 C3 C7"},
		{"team west", `NOT tag:"定期采购" OR level = none`, store.Reach{TeamID: "west"}, "C4"},
		{"nobody's team", `level = high`, store.Reach{TeamID: "north"}, ""},
	}
	for _, c := range cases {
		if got := strings.Join(f.search(t, c.expr, c.reach, 100), " "); got != c.want {
			t.Errorf("%s: %s → [%s], want [%s]", c.name, c.expr, got, c.want)
		}
	}
	for _, size := range []int{1, 2, 3, 5} {
		if got := strings.Join(f.search(t, `NOT tag:"x"`, store.Reach{}, size), " "); got != "C1 C2 C3 C4 C7" {
			t.Errorf("page size %d: [%s]", size, got)
		}
	}
}
