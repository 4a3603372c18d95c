package store_test

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/testkit"
	"github.com/crmsuite/crm/services/feedback/internal/feedback"
	"github.com/crmsuite/crm/services/feedback/internal/store"
)

var agent = store.Actor{UserID: "u-service", Role: "service", TeamID: "support"}

// t0 is 2026-11-23 09:00 China time.
var t0 = time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)

const sla = 24 * time.Hour

// clock is a test clock the store reads; tests move it with set.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) set(d time.Duration) { c.t = t0.Add(d) }

func newStore(t *testing.T) (*store.Store, *pgxpool.Pool, *clock) {
	t.Helper()
	ctx := context.Background()
	pool, err := pgdb.Connect(ctx, testkit.NewDatabase(t), store.Schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := store.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	st := store.New(pool, func(f *feedback.Feedback, _ time.Time) proto.Message { return structpb.NewStringValue(f.ID) })
	c := &clock{t: t0}
	st.SetClock(c.now)
	// Two customers of team east (owned by sales1 and sales2) and one of team west.
	for _, r := range []struct{ id, owner, team string }{
		{"CUST-20261101-0001", "u-sales1", "east"}, {"CUST-20261101-0002", "u-sales2", "east"}, {"CUST-20261101-0003", "u-sales9", "west"},
	} {
		if _, err := pool.Exec(ctx, `INSERT INTO customer_refs (customer_id, owner_id, team_id, version) VALUES ($1, $2, $3, 1)`, r.id, r.owner, r.team); err != nil {
			t.Fatal(err)
		}
	}
	return st, pool, c
}

// record creates feedback of a customer at the store's current time.
func record(t *testing.T, st *store.Store, customerID string, typ feedback.Type) *feedback.Feedback {
	t.Helper()
	f := feedback.New(customerID, typ, "产品到货破损，要求换货", feedback.ChannelPhone, st.Now(), sla)
	f.Normalise()
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	out, err := st.Create(context.Background(), f, store.CreateInput{}, agent)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func outboxEvents(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT subject, payload FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var subject string
		var b []byte
		if err := rows.Scan(&subject, &b); err != nil {
			t.Fatal(err)
		}
		ev, err := events.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, subject+" "+ev.GetSubject())
	}
	return out
}

func TestCreateGetAndEvent(t *testing.T) {
	t.Parallel()
	st, pool, _ := newStore(t)
	ctx := context.Background()
	f := record(t, st, "CUST-20261101-0001", feedback.TypeComplaint)
	if !regexp.MustCompile(`^S20261123\d{3}$`).MatchString(f.ID) || f.Version != 1 || !f.CreatedAt.Equal(t0) {
		t.Fatalf("created %+v", f)
	}
	got, err := st.Get(ctx, f.ID, store.Reach{OwnerID: "u-sales1"}, false)
	if err != nil || got.Content != f.Content || got.OwnerID != "u-sales1" || got.TeamID != "east" ||
		got.ResponseDeadline == nil || !got.ResponseDeadline.Equal(t0.Add(sla)) || got.Status != feedback.StatusPending {
		t.Fatalf("get = %+v, %v", got, err)
	}
	for _, reach := range []store.Reach{{OwnerID: "u-sales2"}, {TeamID: "west"}} {
		if _, err := st.Get(ctx, f.ID, reach, false); !errors.Is(err, feedback.ErrNotFound) {
			t.Fatalf("%+v sees the feedback: %v", reach, err)
		}
	}
	if _, err := st.Get(ctx, f.ID, store.Reach{TeamID: "east"}, false); err != nil {
		t.Fatalf("team east: %v", err)
	}
	if evs := outboxEvents(t, pool); len(evs) != 1 || evs[0] != "crm.feedback.feedback.created "+f.ID {
		t.Fatalf("outbox = %v", evs)
	}
}

func TestIdempotentCreate(t *testing.T) {
	t.Parallel()
	st, pool, _ := newStore(t)
	ctx := context.Background()
	mk := func() *feedback.Feedback {
		return feedback.New("CUST-20261101-0001", feedback.TypeSuggestion, "希望增加电子发票", feedback.ChannelEmail, st.Now(), sla)
	}
	in := store.CreateInput{RequestID: "r-1", RequestHash: []byte{1}}
	first, err := st.Create(ctx, mk(), in, agent)
	if err != nil {
		t.Fatal(err)
	}
	again, err := st.Create(ctx, mk(), in, agent)
	if err != nil || again.ID != first.ID || again.OwnerID != "u-sales1" {
		t.Fatalf("retry = %+v, %v", again, err)
	}
	// Another caller may use the same request id for its own record.
	other, err := st.Create(ctx, mk(), in, store.Actor{UserID: "u-sales1"})
	if err != nil || other.ID == first.ID {
		t.Fatalf("other caller = %+v, %v", other, err)
	}
	if _, err := st.Create(ctx, mk(), store.CreateInput{RequestID: "r-1", RequestHash: []byte{2}}, agent); !errors.Is(err, feedback.ErrRequestUsed) {
		t.Fatalf("reused id: %v", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM feedback`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows = %d, %v", n, err)
	}
	if evs := outboxEvents(t, pool); len(evs) != 2 {
		t.Fatalf("outbox = %v", evs)
	}
}

func TestUpdateEtagNoopAndReach(t *testing.T) {
	t.Parallel()
	st, pool, c := newStore(t)
	ctx := context.Background()
	f := record(t, st, "CUST-20261101-0001", feedback.TypeComplaint)
	c.set(2 * time.Hour)
	start := func(f *feedback.Feedback, now time.Time) error {
		return f.ChangeStatus(feedback.StatusInProgress, "", "u-service", now)
	}
	if _, err := st.Update(ctx, store.UpdateInput{ID: f.ID, Reach: store.Reach{OwnerID: "u-sales2"}, Action: "status_changed", Apply: start}, agent); !errors.Is(err, feedback.ErrNotFound) {
		t.Fatalf("out of reach: %v", err)
	}
	if _, err := st.Update(ctx, store.UpdateInput{ID: f.ID, Version: 7, Action: "status_changed", Apply: start}, agent); !errors.Is(err, feedback.ErrStaleEtag) {
		t.Fatalf("stale: %v", err)
	}
	got, err := st.Update(ctx, store.UpdateInput{ID: f.ID, Version: 1, Action: "status_changed", Apply: start}, agent)
	if err != nil || got.Version != 2 || got.Status != feedback.StatusInProgress || !got.FirstResponseAt.Equal(t0.Add(2*time.Hour)) ||
		!got.UpdatedAt.Equal(t0.Add(2*time.Hour)) || got.UpdatedBy != "u-service" || got.HandlerID != "u-service" {
		t.Fatalf("start = %+v, %v", got, err)
	}
	// Assigning the same handler again changes nothing and publishes nothing.
	same, err := st.Update(ctx, store.UpdateInput{ID: f.ID, Action: "assigned",
		Apply: func(f *feedback.Feedback, _ time.Time) error { return f.Assign("u-service") }}, agent)
	if err != nil || same.Version != 2 {
		t.Fatalf("no-op = %+v, %v", same, err)
	}
	if evs := outboxEvents(t, pool); len(evs) != 2 || evs[1] != "crm.feedback.feedback.status_changed "+f.ID {
		t.Fatalf("outbox = %v", evs)
	}
	stored, err := st.Get(ctx, f.ID, store.Reach{}, false)
	if err != nil || stored.Version != 2 || stored.Status != feedback.StatusInProgress {
		t.Fatalf("stored = %+v, %v", stored, err)
	}
}

// The customer's owner and team come from customer_refs at read time: a reassigned customer's
// feedback follows it.
func TestOwnershipFollowsCustomerRef(t *testing.T) {
	t.Parallel()
	st, pool, _ := newStore(t)
	ctx := context.Background()
	f := record(t, st, "CUST-20261101-0001", feedback.TypeInquiry)
	if _, err := pool.Exec(ctx, `UPDATE customer_refs SET owner_id = 'u-sales2', version = 2 WHERE customer_id = $1`, f.CustomerID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, f.ID, store.Reach{OwnerID: "u-sales1"}, false); !errors.Is(err, feedback.ErrNotFound) {
		t.Fatalf("old owner: %v", err)
	}
	got, err := st.Get(ctx, f.ID, store.Reach{OwnerID: "u-sales2"}, false)
	if err != nil || got.OwnerID != "u-sales2" {
		t.Fatalf("new owner: %+v, %v", got, err)
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	st, _, c := newStore(t)
	ctx := context.Background()
	f := record(t, st, "CUST-20261101-0001", feedback.TypePraise)
	c.set(time.Hour)
	del := func(f *feedback.Feedback, now time.Time) error {
		f.DeletedAt, f.DeletedBy, f.DeleteReason = &now, "u-admin", "重复录入"
		return nil
	}
	got, err := st.Update(ctx, store.UpdateInput{ID: f.ID, Action: "deleted", Apply: del}, agent)
	if err != nil || got.DeletedAt == nil {
		t.Fatalf("delete = %+v, %v", got, err)
	}
	if _, err := st.Get(ctx, f.ID, store.Reach{}, false); !errors.Is(err, feedback.ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	if g, err := st.Get(ctx, f.ID, store.Reach{}, true); err != nil || g.DeleteReason != "重复录入" {
		t.Fatalf("get deleted with includeDeleted: %+v, %v", g, err)
	}
	if _, err := st.Update(ctx, store.UpdateInput{ID: f.ID, Action: "deleted", Apply: del}, agent); !errors.Is(err, feedback.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	list, _, err := st.List(ctx, store.ListInput{Order: feedback.Order{Field: "create_time", Desc: true}, PageSize: 10, Now: st.Now()})
	if err != nil || len(list) != 0 {
		t.Fatalf("list shows deleted: %v, %v", list, err)
	}
}

func ids(list []*feedback.Feedback) []string {
	out := make([]string, len(list))
	for i, f := range list {
		out[i] = f.ID
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestListFiltersOverdueAndPages records, an hour apart: a complaint answered in time (a), one
// answered late (b), one still pending and overdue (c), a suggestion (d), and a fresh complaint
// of team west (e); then it lists at t0 + 30h.
func TestListFiltersOverdueAndPages(t *testing.T) {
	t.Parallel()
	st, _, c := newStore(t)
	ctx := context.Background()
	a := record(t, st, "CUST-20261101-0001", feedback.TypeComplaint)
	c.set(time.Hour)
	b := record(t, st, "CUST-20261101-0002", feedback.TypeComplaint)
	c.set(2 * time.Hour)
	cc := record(t, st, "CUST-20261101-0001", feedback.TypeComplaint)
	c.set(3 * time.Hour)
	d := record(t, st, "CUST-20261101-0001", feedback.TypeSuggestion)
	c.set(10 * time.Hour)
	e := record(t, st, "CUST-20261101-0003", feedback.TypeComplaint)
	start := func(f *feedback.Feedback, now time.Time) error {
		return f.ChangeStatus(feedback.StatusInProgress, "", "u-service", now)
	}
	c.set(12 * time.Hour)
	if _, err := st.Update(ctx, store.UpdateInput{ID: a.ID, Action: "status_changed", Apply: start}, agent); err != nil {
		t.Fatal(err)
	}
	c.set(26 * time.Hour)
	if _, err := st.Update(ctx, store.UpdateInput{ID: b.ID, Action: "status_changed", Apply: start}, agent); err != nil {
		t.Fatal(err)
	}
	c.set(30 * time.Hour)
	now := st.Now()

	list := func(in store.ListInput, filter string) []string {
		t.Helper()
		conds, err := feedback.ParseFilter(filter)
		if err != nil {
			t.Fatal(err)
		}
		in.Conditions, in.Now = conds, now
		if in.PageSize == 0 {
			in.PageSize = 50
		}
		if in.Order.Field == "" {
			in.Order = feedback.Order{Field: "create_time", Desc: true}
		}
		got, _, err := st.List(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return ids(got)
	}
	tests := []struct {
		name   string
		in     store.ListInput
		filter string
		want   []string
	}{
		{"all, newest first", store.ListInput{}, "", []string{e.ID, d.ID, cc.ID, b.ID, a.ID}},
		{"oldest first", store.ListInput{Order: feedback.Order{Field: "create_time"}}, "", []string{a.ID, b.ID, cc.ID, d.ID, e.ID}},
		{"overdue", store.ListInput{}, "overdue = true", []string{cc.ID, b.ID}},
		{"not overdue", store.ListInput{}, "overdue = false", []string{e.ID, d.ID, a.ID}},
		{"overdue != true", store.ListInput{}, "overdue != true", []string{e.ID, d.ID, a.ID}},
		{"pending complaints", store.ListInput{}, "type = complaint AND status = pending", []string{e.ID, cc.ID}},
		{"handled by the agent", store.ListInput{}, `handler_id = "u-service"`, []string{b.ID, a.ID}},
		{"one customer", store.ListInput{CustomerID: "CUST-20261101-0001"}, "", []string{d.ID, cc.ID, a.ID}},
		{"customer filter", store.ListInput{}, "customer_id = cust-20261101-0002", []string{b.ID}},
		{"time range", store.ListInput{}, `create_time >= "2026-11-23T02:00:00Z" AND create_time < "2026-11-23T04:00:00Z"`, []string{cc.ID, b.ID}},
		{"sales1's customers", store.ListInput{Reach: store.Reach{OwnerID: "u-sales1"}}, "", []string{d.ID, cc.ID, a.ID}},
		{"team west", store.ListInput{Reach: store.Reach{TeamID: "west"}}, "", []string{e.ID}},
		{"recently updated first", store.ListInput{Order: feedback.Order{Field: "update_time", Desc: true}}, "", []string{b.ID, a.ID, e.ID, d.ID, cc.ID}},
	}
	for _, tc := range tests {
		if got := list(tc.in, tc.filter); !equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}

	// Keyset pages of two cover everything once, in order.
	var all []string
	var after *store.Cursor
	for range 5 {
		page, next, err := st.List(ctx, store.ListInput{Order: feedback.Order{Field: "create_time", Desc: true}, PageSize: 2, After: after, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ids(page)...)
		if after = next; after == nil {
			break
		}
	}
	if !equal(all, []string{e.ID, d.ID, cc.ID, b.ID, a.ID}) {
		t.Fatalf("pages = %v", all)
	}
}

func TestListOverdue(t *testing.T) {
	t.Parallel()
	st, _, c := newStore(t)
	ctx := context.Background()
	var complaints []*feedback.Feedback
	for i, cust := range []string{"CUST-20261101-0001", "CUST-20261101-0002", "CUST-20261101-0003", "CUST-20261101-0001"} {
		c.set(time.Duration(i) * time.Hour)
		complaints = append(complaints, record(t, st, cust, feedback.TypeComplaint))
	}
	record(t, st, "CUST-20261101-0001", feedback.TypeInquiry) // no deadline
	// The second complaint is answered (late): no longer in the queue.
	c.set(25 * time.Hour)
	if _, err := st.Update(ctx, store.UpdateInput{ID: complaints[1].ID, Action: "status_changed",
		Apply: func(f *feedback.Feedback, now time.Time) error {
			return f.ChangeStatus(feedback.StatusInProgress, "", "u-service", now)
		}}, agent); err != nil {
		t.Fatal(err)
	}
	// Deadlines are t0+24h, +25h, +26h and +27h. At t0+26h30m the first and third are overdue;
	// the second was answered, the fourth is not due yet.
	c.set(26*time.Hour + 30*time.Minute)
	overdue := func(reach store.Reach, size int, after *store.Cursor) ([]string, *store.Cursor) {
		t.Helper()
		got, next, err := st.ListOverdue(ctx, store.OverdueInput{Reach: reach, Now: st.Now(), PageSize: size, After: after})
		if err != nil {
			t.Fatal(err)
		}
		return ids(got), next
	}
	first, next := overdue(store.Reach{}, 1, nil)
	second, last := overdue(store.Reach{}, 1, next)
	if !equal(first, []string{complaints[0].ID}) || !equal(second, []string{complaints[2].ID}) || last != nil {
		t.Fatalf("pages %v %v (last cursor %v)", first, second, last)
	}
	if got, _ := overdue(store.Reach{OwnerID: "u-sales1"}, 10, nil); !equal(got, []string{complaints[0].ID}) {
		t.Fatalf("sales1: %v", got)
	}
	if got, _ := overdue(store.Reach{TeamID: "west"}, 10, nil); !equal(got, []string{complaints[2].ID}) {
		t.Fatalf("west: %v", got)
	}
	c.set(28 * time.Hour)
	if got, _ := overdue(store.Reach{}, 10, nil); !equal(got, []string{complaints[0].ID, complaints[2].ID, complaints[3].ID}) {
		t.Fatalf("later: %v", got)
	}
}
