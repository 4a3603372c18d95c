package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/testkit"
	"github.com/crmsuite/crm/services/customer/internal/customer"
	"github.com/crmsuite/crm/services/customer/internal/store"
)

var admin = store.Actor{UserID: "u-admin", Role: "admin", TeamID: "hq"}

func newStore(t *testing.T) (*store.Store, *pgxpool.Pool) {
	t.Helper()
	return newStoreWithPool(t, 0)
}

// newStoreWithPool is newStore with a pool of at most maxConns connections (0: pgx's default).
func newStoreWithPool(t *testing.T, maxConns int) (*store.Store, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	u, err := url.Parse(testkit.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	if maxConns > 0 {
		q := u.Query()
		q.Set("pool_max_conns", strconv.Itoa(maxConns))
		u.RawQuery = q.Encode()
	}
	pool, err := pgdb.Connect(ctx, u.String(), store.Schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := store.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	return store.New(pool, func(c *customer.Customer) proto.Message { return structpb.NewStringValue(c.ID) }), pool
}

// newCustomer returns a valid customer; n makes name, mobile and USCC-free identity unique.
func newCustomer(n int, owner, team string) *customer.Customer {
	c := &customer.Customer{
		Name: fmt.Sprintf("杭州测试科技%04d有限公司", n), Type: customer.TypeEnterprise, Industry: "I65",
		ContactName: "王芳", Mobile: fmt.Sprintf("139%08d", n), Address: customer.Address{Province: "浙江省", City: "杭州市"},
		Scale: customer.Scale51To200, Status: customer.StatusPotential, OwnerID: owner, TeamID: team,
	}
	c.Normalise()
	return c
}

func outboxEvents(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT payload FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		ev, err := events.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev.GetType()+" "+ev.GetSubject())
	}
	return out
}

func TestCreateGetAndEvent(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	c, err := st.Create(ctx, newCustomer(1, "u-sales1", "east"), store.CreateInput{}, admin)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == "" || c.Version != 1 {
		t.Fatalf("created %+v", c)
	}
	got, err := st.Get(ctx, c.ID, store.Reach{OwnerID: "u-sales1"}, false)
	if err != nil || got.Name != c.Name || got.Mobile != c.Mobile || !got.CreatedAt.Equal(c.CreatedAt) {
		t.Fatalf("get = %+v, %v", got, err)
	}
	if _, err := st.Get(ctx, c.ID, store.Reach{OwnerID: "u-sales2"}, false); !errors.Is(err, customer.ErrNotFound) {
		t.Fatalf("other rep sees the customer: %v", err)
	}
	if _, err := st.Get(ctx, c.ID, store.Reach{TeamID: "west"}, false); !errors.Is(err, customer.ErrNotFound) {
		t.Fatalf("other team sees the customer: %v", err)
	}
	if evs := outboxEvents(t, pool); len(evs) != 1 || evs[0] != "customer.created "+c.ID {
		t.Fatalf("outbox = %v", evs)
	}
}

func TestDuplicates(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	first := newCustomer(1, "u-sales1", "east")
	first.USCC = "91440300192176077R"
	if _, err := st.Create(ctx, first, store.CreateInput{}, admin); err != nil {
		t.Fatal(err)
	}

	sameUSCC := newCustomer(2, "u-sales2", "east")
	sameUSCC.USCC = first.USCC
	var dup *customer.DuplicateError
	if _, err := st.Create(ctx, sameUSCC, store.CreateInput{ConfirmNotDuplicate: true}, admin); !errors.As(err, &dup) || !dup.ExactUSCC {
		t.Fatalf("same USCC with confirmation: %v", err)
	}

	sameName := newCustomer(3, "u-sales2", "east")
	sameName.Name = "杭州测试科技0001有限责任公司" // folds to the same name
	if _, err := st.Create(ctx, sameName, store.CreateInput{}, admin); !errors.As(err, &dup) || dup.ExactUSCC ||
		len(dup.Candidates) != 1 || dup.Candidates[0].Matched[0] != "name" {
		t.Fatalf("same folded name: %v %+v", err, dup)
	}
	if _, err := st.Create(ctx, sameName, store.CreateInput{ConfirmNotDuplicate: true}, admin); err != nil {
		t.Fatalf("confirmed duplicate refused: %v", err)
	}

	sameMobile := newCustomer(4, "u-sales2", "east")
	sameMobile.Mobile = first.Mobile
	if _, err := st.Create(ctx, sameMobile, store.CreateInput{}, admin); !errors.As(err, &dup) {
		t.Fatalf("same mobile: %v", err)
	}
	// Refused creates leave no event behind.
	if evs := outboxEvents(t, pool); len(evs) != 2 {
		t.Fatalf("outbox after refusals = %v", evs)
	}
}

func TestCreateIsIdempotentUnderConcurrency(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	const n = 50
	results := make([]*customer.Customer, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = st.Create(ctx, newCustomer(7, "u-sales1", "east"),
				store.CreateInput{RequestID: "req-1", RequestHash: []byte("h1")}, admin)
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if results[i].ID != results[0].ID || results[i].Version != results[0].Version || !results[i].CreatedAt.Equal(results[0].CreatedAt) {
			t.Fatalf("call %d returned %s v%d, call 0 %s v%d", i, results[i].ID, results[i].Version, results[0].ID, results[0].Version)
		}
	}
	var count int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM customers`).Scan(&count); err != nil || count != 1 {
		t.Fatalf("customers = %d, %v", count, err)
	}
	if evs := outboxEvents(t, pool); len(evs) != 1 {
		t.Fatalf("events = %v", evs)
	}
	if _, err := st.Create(ctx, newCustomer(8, "u-sales1", "east"), store.CreateInput{RequestID: "req-1", RequestHash: []byte("other")}, admin); !errors.Is(err, customer.ErrRequestUsed) {
		t.Fatalf("reused request id with other content: %v", err)
	}
}

func TestConcurrentCreatesGetDistinctIDs(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	ctx := context.Background()
	const n = 200
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, err := st.Create(ctx, newCustomer(100+i, "u-sales1", "east"), store.CreateInput{}, admin)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = c.ID
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, id := range ids {
		if id == "" || seen[id] {
			t.Fatalf("missing or duplicate id %q", id)
		}
		seen[id] = true
	}
}

func TestConcurrentUpdatesWithOneEtag(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	c, err := st.Create(ctx, newCustomer(1, "u-sales1", "east"), store.CreateInput{}, admin)
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, aborted := 0, 0
	for i := range n {
		wg.Go(func() {
			_, err := st.Update(ctx, store.UpdateInput{ID: c.ID, Version: c.Version, Action: "updated",
				Apply: func(c *customer.Customer, _ time.Time) error { c.Remarks = fmt.Sprintf("备注 %d", i); return nil }}, admin)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, customer.ErrStaleEtag):
				aborted++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || aborted != n-1 {
		t.Fatalf("ok = %d, aborted = %d", ok, aborted)
	}
	got, _ := st.Get(ctx, c.ID, store.Reach{}, false)
	if got.Version != 2 {
		t.Fatalf("version = %d", got.Version)
	}
	if evs := outboxEvents(t, pool); len(evs) != 2 {
		t.Fatalf("events = %v", evs)
	}
}

func TestUpdateDeleteUndelete(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	c, _ := st.Create(ctx, newCustomer(1, "u-sales1", "east"), store.CreateInput{}, admin)

	// An update that changes nothing writes nothing.
	same, err := st.Update(ctx, store.UpdateInput{ID: c.ID, Action: "updated", Apply: func(*customer.Customer, time.Time) error { return nil }}, admin)
	if err != nil || same.Version != 1 {
		t.Fatalf("no-op update: %v v%d", err, same.Version)
	}
	// A failing change aborts the transaction: no row change, no event.
	boom := errors.New("boom")
	if _, err := st.Update(ctx, store.UpdateInput{ID: c.ID, Action: "updated", Apply: func(c *customer.Customer, _ time.Time) error {
		c.Remarks = "x"
		return boom
	}}, admin); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	// An action other services' projections do not subscribe to is refused, before anything is
	// written.
	if _, err := st.Update(ctx, store.UpdateInput{ID: c.ID, Action: "renamed", Apply: func(c *customer.Customer, _ time.Time) error {
		c.Remarks = "x"
		return nil
	}}, admin); err == nil || !strings.Contains(err.Error(), "store.Actions") {
		t.Fatalf("update with an unknown action: %v", err)
	}
	if got, err := st.Get(ctx, c.ID, store.Reach{}, false); err != nil || got.Version != 1 || got.Remarks != "" {
		t.Fatalf("after the refused update: %v v%d %q", err, got.Version, got.Remarks)
	}
	// Out of reach is not found.
	if _, err := st.Update(ctx, store.UpdateInput{ID: c.ID, Reach: store.Reach{OwnerID: "u-sales2"}, Action: "updated",
		Apply: func(*customer.Customer, time.Time) error { return nil }}, admin); !errors.Is(err, customer.ErrNotFound) {
		t.Fatalf("out of reach update: %v", err)
	}

	del, err := st.Update(ctx, store.UpdateInput{ID: c.ID, Action: "deleted", Apply: func(c *customer.Customer, now time.Time) error {
		c.DeletedAt, c.DeletedBy, c.DeleteReason = &now, "u-admin", "重复录入"
		return nil
	}}, admin)
	if err != nil || del.DeletedAt == nil || del.Version != 2 {
		t.Fatalf("delete: %v %+v", err, del)
	}
	if _, err := st.Get(ctx, c.ID, store.Reach{}, false); !errors.Is(err, customer.ErrNotFound) {
		t.Fatalf("deleted customer visible: %v", err)
	}
	// Its mobile no longer counts as a duplicate.
	again := newCustomer(1, "u-sales1", "east")
	again.Name = "另一家杭州公司"
	if _, err := st.Create(ctx, again, store.CreateInput{}, admin); err != nil {
		t.Fatalf("create after delete: %v", err)
	}
	undel, err := st.Update(ctx, store.UpdateInput{ID: c.ID, Deleted: true, Action: "undeleted", Apply: func(c *customer.Customer, _ time.Time) error {
		c.DeletedAt, c.DeletedBy, c.DeleteReason = nil, "", ""
		return nil
	}}, admin)
	if err != nil || undel.DeletedAt != nil || undel.Version != 3 {
		t.Fatalf("undelete: %v %+v", err, undel)
	}
	want := []string{"customer.created " + c.ID, "customer.deleted " + c.ID, "customer.created " + again.ID, "customer.undeleted " + c.ID}
	if evs := outboxEvents(t, pool); fmt.Sprint(evs) != fmt.Sprint(want) {
		t.Fatalf("events = %v, want %v", evs, want)
	}
}

// TestUpdateToATakenUSCC: an update whose new USCC a live customer already has is refused as
// ErrUSCCTaken by the unique index, in the update's second round trip, and leaves the row, its
// version and the outbox as they were.
func TestUpdateToATakenUSCC(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	first := newCustomer(1, "u-sales1", "east")
	first.USCC = "91440300192176077R"
	if _, err := st.Create(ctx, first, store.CreateInput{}, admin); err != nil {
		t.Fatal(err)
	}
	second, err := st.Create(ctx, newCustomer(2, "u-sales1", "east"), store.CreateInput{}, admin)
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Update(ctx, store.UpdateInput{ID: second.ID, Action: "updated", Apply: func(c *customer.Customer, _ time.Time) error {
		c.USCC, c.Remarks = first.USCC, "改成别家的信用代码"
		return nil
	}}, admin)
	if !errors.Is(err, customer.ErrUSCCTaken) {
		t.Fatalf("err = %v, want ErrUSCCTaken", err)
	}
	got, err := st.Get(ctx, second.ID, store.Reach{}, false)
	if err != nil || got.USCC != "" || got.Remarks != "" || got.Version != 1 {
		t.Fatalf("after the refused update: %v %+v", err, got)
	}
	want := []string{"customer.created " + first.ID, "customer.created " + second.ID}
	if evs := outboxEvents(t, pool); fmt.Sprint(evs) != fmt.Sprint(want) {
		t.Fatalf("events = %v, want %v", evs, want)
	}
	// The connection the failed transaction ran on serves the next update.
	if _, err := st.Update(ctx, store.UpdateInput{ID: second.ID, Action: "updated", Apply: func(c *customer.Customer, _ time.Time) error {
		c.Remarks = "正常更新"
		return nil
	}}, admin); err != nil {
		t.Fatal(err)
	}
}

func TestListPagesAndFilters(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	ctx := context.Background()
	for i := range 25 {
		owner, team := "u-sales1", "east"
		if i%5 == 0 {
			owner, team = "u-sales3", "west"
		}
		c := newCustomer(i, owner, team)
		if i%2 == 0 {
			c.Address = customer.Address{Province: "广东省", City: "深圳市"}
		}
		if _, err := st.Create(ctx, c, store.CreateInput{}, admin); err != nil {
			t.Fatal(err)
		}
	}
	all := func(in store.ListInput) []*customer.Customer {
		var out []*customer.Customer
		for pages := 0; ; pages++ {
			page, next, err := st.List(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > in.PageSize {
				t.Fatalf("page of %d", len(page))
			}
			out = append(out, page...)
			if next == nil {
				return out
			}
			in.After = next
			if pages > 100 {
				t.Fatal("endless paging")
			}
		}
	}
	for _, order := range []customer.Order{{Field: "create_time", Desc: true}, {Field: "name"}, {Field: "update_time"}} {
		got := all(store.ListInput{Order: order, PageSize: 4})
		seen := map[string]bool{}
		for _, c := range got {
			if seen[c.ID] {
				t.Fatalf("%v: %s twice", order, c.ID)
			}
			seen[c.ID] = true
		}
		if len(got) != 25 {
			t.Fatalf("%v: %d customers", order, len(got))
		}
	}
	if got := all(store.ListInput{Order: customer.Order{Field: "name"}, PageSize: 7, Reach: store.Reach{OwnerID: "u-sales3"}}); len(got) != 5 {
		t.Fatalf("own reach: %d", len(got))
	}
	if got := all(store.ListInput{Order: customer.Order{Field: "name"}, PageSize: 7, Reach: store.Reach{TeamID: "east"}}); len(got) != 20 {
		t.Fatalf("team reach: %d", len(got))
	}
	conds, err := customer.ParseFilter(`province = "广东" AND team_id = east AND industry = I`)
	if err != nil {
		t.Fatal(err)
	}
	if got := all(store.ListInput{Order: customer.Order{Field: "name"}, PageSize: 3, Conditions: conds}); len(got) != 10 {
		t.Fatalf("filtered: %d", len(got))
	}
	conds, _ = customer.ParseFilter(`create_time > "2000-01-01T00:00:00Z" AND type != enterprise`)
	if got := all(store.ListInput{Order: customer.Order{Field: "name"}, PageSize: 3, Conditions: conds}); len(got) != 0 {
		t.Fatalf("filtered by type: %d", len(got))
	}
}

func TestSearch(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	ctx := context.Background()
	names := []string{"北京字节跳动科技有限公司", "上海字节数据服务有限公司", "深圳市腾讯计算机系统有限公司", "字节跳动"}
	var created []*customer.Customer
	for i, n := range names {
		c := newCustomer(i, "u-sales1", "east")
		c.Name = n
		if i == 3 {
			c.Type, c.Industry, c.Scale = customer.TypeIndividual, "", customer.ScaleIndividualStd
		}
		out, err := st.Create(ctx, c, store.CreateInput{ConfirmNotDuplicate: true}, admin)
		if err != nil {
			t.Fatal(err)
		}
		created = append(created, out)
	}
	search := func(q string, reach store.Reach) []string {
		var ids []string
		in := store.SearchInput{Query: q, PageSize: 1, Reach: reach}
		for {
			page, next, err := st.Search(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range page {
				ids = append(ids, c.Name)
			}
			if next == nil {
				return ids
			}
			in.After = next
		}
	}
	got := search("字节跳动", store.Reach{})
	if len(got) != 2 || got[0] != "字节跳动" {
		t.Fatalf("search 字节跳动 = %v (exact name first)", got)
	}
	if got := search("字节", store.Reach{}); len(got) != 3 {
		t.Fatalf("search 字节 = %v", got)
	}
	if got := search(created[2].Mobile[3:], store.Reach{}); len(got) != 1 || got[0] != names[2] {
		t.Fatalf("search by partial mobile = %v", got)
	}
	if got := search(created[1].ID, store.Reach{}); len(got) != 1 || got[0] != names[1] {
		t.Fatalf("search by id = %v", got)
	}
	if got := search("王芳", store.Reach{}); len(got) != 4 {
		t.Fatalf("search by contact = %v", got)
	}
	if got := search("字节", store.Reach{OwnerID: "u-sales2"}); len(got) != 0 {
		t.Fatalf("other rep finds %v", got)
	}
	if got := search("100%", store.Reach{}); len(got) != 0 {
		t.Fatalf("wildcards not escaped: %v", got)
	}
}

// TestSearchFindsWhatILIKEFinds: a keyword of three characters or more is looked up through the
// bigrams it must contain (keyword_bigrams, migration 0010); the search must find exactly the
// customers whose name, contact name, mobile or id contains it, ignoring case, whatever the
// keyword's length, its letters' case or its repeated pieces.
func TestSearchFindsWhatILIKEFinds(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	people := []struct{ name, contact string }{
		{"杭州ABC数据科技有限公司", "王芳"},
		{"杭州abcd信息技术有限公司", "李伟"},
		{"宁波哈哈哈哈食品有限公司", "张哈哈"},
		{"温州星辰星辰贸易有限公司", "Ada Lovelace"},
		{"绍兴星辰贸易有限公司", "陈星辰"},
		{"舟山海产有限公司", "ADA LOVELACE"},
	}
	for i, p := range people {
		c := newCustomer(100+i, "u-sales1", "east")
		c.Name, c.ContactName = p.name, p.contact
		if _, err := st.Create(ctx, c, store.CreateInput{ConfirmNotDuplicate: true}, admin); err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
	}
	for _, kw := range []string{"abc", "ABCD", "Abc数", "哈哈哈", "哈哈哈哈", "哈哈哈哈哈", "星辰星辰", "星辰贸易有限",
		"lovelace", "a lov", "ADA LOVELACE", "贸易有限公司", "有限公司", "辰星辰", "食品有", "13900000", "xyz"} {
		var want []string
		rows, err := pool.Query(ctx, `SELECT id FROM customers WHERE deleted_at IS NULL AND (name ILIKE $1
			OR contact_name ILIKE $1 OR mobile LIKE $1 OR id ILIKE $1) ORDER BY id DESC`, "%"+kw+"%")
		if err != nil {
			t.Fatal(err)
		}
		if want, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			t.Fatal(err)
		}
		page, _, err := st.Search(ctx, store.SearchInput{Query: kw, PageSize: 50})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range page {
			got = append(got, c.ID)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("search %q found %v, want %v", kw, got, want)
		}
	}
}

// TestSearchUsesBigramIndex guards the collation of the search's bigram condition: the bigram
// index compares its keys in the "C" collation (migration 0005) and is only usable by a condition
// in that collation; without it the search still finds the right rows, by reading the whole
// table, so no other test would notice.
func TestSearchUsesBigramIndex(t *testing.T) {
	t.Parallel()
	_, pool := newStore(t)
	ctx := context.Background()
	for _, sql := range []string{insertSelect, `UPDATE customers SET name = '北京字节跳动科技有限公司' WHERE id = (SELECT max(id) FROM customers)`, `VACUUM ANALYZE customers`} {
		var args []any
		if sql == insertSelect {
			args = []any{1, 5000}
		}
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	for _, kw := range []string{"字节", "字节跳动"} {
		q, args, err := store.SearchQuery(store.SearchInput{Query: kw, PageSize: 20})
		if err != nil {
			t.Fatal(err)
		}
		// Other ways of reading the table are switched off, so that the test asks whether the
		// index can serve the condition rather than what the planner's estimates prefer on a
		// small table.
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off`); err != nil {
			t.Fatal(err)
		}
		rows, err := tx.Query(ctx, "EXPLAIN "+q, append([]any{pgx.QueryExecModeExec}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		_ = tx.Rollback(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if plan := strings.Join(lines, "\n"); !strings.Contains(plan, "Index Scan on customers_bigrams") {
			t.Fatalf("search %s does not use the bigram index:\n%s", kw, plan)
		}
	}
}
