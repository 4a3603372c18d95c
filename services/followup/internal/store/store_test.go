package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/testkit"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/services/followup/internal/followup"
	"github.com/crmsuite/crm/services/followup/internal/store"
)

var (
	admin = store.Actor{UserID: "u-admin", Role: "admin", TeamID: "hq"}
	cst   = time.FixedZone("CST", 8*3600)
)

func newStore(t testing.TB) (*store.Store, *pgxpool.Pool) {
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
	// Migrations run again at every start: they must be no-ops the second time.
	if err := store.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	return store.New(pool, func(f *followup.FollowUp) proto.Message { return structpb.NewStringValue(f.CustomerID) }), pool
}

// customer puts a customer into the projection, as its events would.
func customer(t testing.TB, pool *pgxpool.Pool, id, owner, team string, deleted bool) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `INSERT INTO customer_refs (customer_id, owner_id, team_id, deleted, version)
		VALUES ($1, $2, $3, $4, 1)
		ON CONFLICT (customer_id) DO UPDATE SET owner_id = $2, team_id = $3, deleted = $4, version = customer_refs.version + 1`,
		id, owner, team, deleted)
	if err != nil {
		t.Fatal(err)
	}
}

// record returns a valid new record of a customer, contacted at the given time, with a next action
// due on due (none when nil).
func record(customerID string, contact time.Time, due *followup.Date) *followup.FollowUp {
	f := &followup.FollowUp{
		CustomerID: customerID, ContactName: "陈静", Method: followup.MethodPhone, ContactTime: contact,
		Kind: followup.KindNeedFollowUp, Content: "电话沟通了交付周期。", OwnerID: "u-sales1", TeamID: "east",
	}
	if due != nil {
		f.NextAction, f.NextActionDue = "发送方案", due
	}
	f.Normalise()
	return f
}

func outboxEvents(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	var out []string
	for _, ev := range decodeOutbox(t, pool, "") {
		out = append(out, fmt.Sprintf("%s %s v%d", ev.GetType(), ev.GetSubject(), ev.GetEntityVersion()))
	}
	return out
}

// decodeOutbox returns the events in the outbox, in the order written; those on subject when it is set.
func decodeOutbox(t *testing.T, pool *pgxpool.Pool, subject string) []*eventsv1.Event {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT payload FROM outbox WHERE $1 = '' OR subject = $1 ORDER BY id`, subject)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []*eventsv1.Event
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		ev, err := events.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

const custA, custB = "CUST-20261101-0001", "CUST-20261101-0002"

func TestCreateGetReachAndEvent(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	customer(t, pool, custA, "u-sales1", "east", false)
	f, err := st.Create(ctx, record(custA, time.Now().Add(-time.Hour), &followup.Date{Year: 2026, Month: 12, Day: 1}), store.CreateInput{}, admin)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.ID) != 12 || f.ID[0] != 'F' || f.Version != 1 {
		t.Fatalf("created %+v", f)
	}
	got, err := st.Get(ctx, f.ID, store.Reach{OwnerID: "u-sales1"})
	if err != nil || got.Content != f.Content || !got.ContactTime.Equal(f.ContactTime) || got.TeamID != "east" ||
		*got.NextActionDue != *f.NextActionDue || !got.CreatedAt.Equal(f.CreatedAt) {
		t.Fatalf("get = %+v, %v", got, err)
	}
	for _, reach := range []store.Reach{{OwnerID: "u-sales2"}, {TeamID: "west"}} {
		if _, err := st.Get(ctx, f.ID, reach); !errors.Is(err, followup.ErrNotFound) {
			t.Fatalf("%+v sees the record: %v", reach, err)
		}
	}
	// The customer moves to another rep of team west: the record follows it.
	customer(t, pool, custA, "u-sales9", "west", false)
	if _, err := st.Get(ctx, f.ID, store.Reach{OwnerID: "u-sales1"}); !errors.Is(err, followup.ErrNotFound) {
		t.Fatalf("former owner still sees the record: %v", err)
	}
	if got, err := st.Get(ctx, f.ID, store.Reach{TeamID: "west"}); err != nil || got.TeamID != "west" {
		t.Fatalf("new team: %+v %v", got, err)
	}
	// A deleted customer's records are hidden unless asked for.
	customer(t, pool, custA, "u-sales9", "west", true)
	if _, err := st.Get(ctx, f.ID, store.Reach{}); !errors.Is(err, followup.ErrNotFound) {
		t.Fatalf("deleted customer's record visible: %v", err)
	}
	if got, err := st.Get(ctx, f.ID, store.Reach{DeletedCustomers: true}); err != nil || !got.CustomerDeleted {
		t.Fatalf("admin view of a deleted customer's record: %+v %v", got, err)
	}
	// The customer's first record also sets its latest contact time.
	want := []string{"followup.created " + f.ID + " v1", "customer_last_followup.changed " + custA + " v1"}
	if evs := outboxEvents(t, pool); fmt.Sprint(evs) != fmt.Sprint(want) {
		t.Fatalf("outbox = %v, want %v", evs, want)
	}
}

func TestCreateIsIdempotentUnderConcurrency(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	customer(t, pool, custA, "u-sales1", "east", false)
	const n = 30
	results := make([]*followup.FollowUp, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = st.Create(ctx, record(custA, time.Now(), nil), store.CreateInput{RequestID: "req-1", RequestHash: []byte("h1")}, admin)
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if results[i].ID != results[0].ID {
			t.Fatalf("call %d returned %s, call 0 %s", i, results[i].ID, results[0].ID)
		}
	}
	var count int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM followups`).Scan(&count); err != nil || count != 1 {
		t.Fatalf("records = %d, %v", count, err)
	}
	if evs := outboxEvents(t, pool); len(evs) != 2 {
		t.Fatalf("events = %v", evs)
	}
	if _, err := st.Create(ctx, record(custA, time.Now(), nil), store.CreateInput{RequestID: "req-1", RequestHash: []byte("other")}, admin); !errors.Is(err, followup.ErrRequestUsed) {
		t.Fatalf("reused request id with other content: %v", err)
	}
	// Another caller may use the same request id for its own request.
	other := store.Actor{UserID: "u-sales1", Role: "sales"}
	if f, err := st.Create(ctx, record(custA, time.Now(), nil), store.CreateInput{RequestID: "req-1", RequestHash: []byte("other")}, other); err != nil || f.ID == results[0].ID {
		t.Fatalf("other caller's request: %v %v", f, err)
	}
}

func TestUpdateEtagCompleteAndDelete(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	customer(t, pool, custA, "u-sales1", "east", false)
	f, err := st.Create(ctx, record(custA, time.Now(), &followup.Date{Year: 2026, Month: 12, Day: 1}), store.CreateInput{}, admin)
	if err != nil {
		t.Fatal(err)
	}
	noop := func(*followup.FollowUp, time.Time) error { return nil }

	// An update that changes nothing writes nothing.
	same, err := st.Update(ctx, store.UpdateInput{ID: f.ID, Action: "updated", Apply: noop}, admin)
	if err != nil || same.Version != 1 {
		t.Fatalf("no-op update: %v %+v", err, same)
	}
	// Out of reach is not found.
	if _, err := st.Update(ctx, store.UpdateInput{ID: f.ID, Reach: store.Reach{OwnerID: "u-sales2"}, Action: "updated", Apply: noop}, admin); !errors.Is(err, followup.ErrNotFound) {
		t.Fatalf("out of reach update: %v", err)
	}
	// A failing change aborts the transaction.
	boom := errors.New("boom")
	if _, err := st.Update(ctx, store.UpdateInput{ID: f.ID, Action: "updated", Apply: func(f *followup.FollowUp, _ time.Time) error {
		f.Content = "x"
		return boom
	}}, admin); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	upd, err := st.Update(ctx, store.UpdateInput{ID: f.ID, Version: 1, Action: "updated", Apply: func(f *followup.FollowUp, _ time.Time) error {
		f.CompetitorNotes = "对手报价低 10%"
		return nil
	}}, admin)
	if err != nil || upd.Version != 2 || upd.CompetitorNotes != "对手报价低 10%" {
		t.Fatalf("update: %v %+v", err, upd)
	}
	if _, err := st.Update(ctx, store.UpdateInput{ID: f.ID, Version: 1, Action: "updated", Apply: noop}, admin); !errors.Is(err, followup.ErrStaleEtag) {
		t.Fatalf("stale etag: %v", err)
	}
	done, err := st.Update(ctx, store.UpdateInput{ID: f.ID, Action: "completed", Apply: func(f *followup.FollowUp, now time.Time) error {
		return f.Complete("u-sales1", now)
	}}, admin)
	if err != nil || !done.Done || done.DoneAt == nil || done.DoneBy != "u-sales1" {
		t.Fatalf("complete: %v %+v", err, done)
	}
	got, _ := st.Get(ctx, f.ID, store.Reach{})
	if !got.Done || !got.DoneAt.Equal(*done.DoneAt) {
		t.Fatalf("stored completion: %+v", got)
	}
	if _, err := st.Update(ctx, store.UpdateInput{ID: f.ID, Action: "completed", Apply: func(f *followup.FollowUp, now time.Time) error {
		return f.Complete("u-sales1", now)
	}}, admin); !errors.Is(err, followup.ErrAlreadyDone) {
		t.Fatalf("second completion: %v", err)
	}
	del, err := st.Update(ctx, store.UpdateInput{ID: f.ID, Action: "deleted", Apply: func(f *followup.FollowUp, now time.Time) error {
		f.DeletedAt, f.DeletedBy = &now, "u-admin"
		return nil
	}}, admin)
	if err != nil || del.DeletedAt == nil || del.Version != 4 {
		t.Fatalf("delete: %v %+v", err, del)
	}
	if _, err := st.Get(ctx, f.ID, store.Reach{}); !errors.Is(err, followup.ErrNotFound) {
		t.Fatalf("deleted record visible: %v", err)
	}
	if _, err := st.Update(ctx, store.UpdateInput{ID: f.ID, Action: "deleted", Apply: noop}, admin); !errors.Is(err, followup.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	// Completing and editing other fields leave the customer's latest contact time; deleting its
	// only record unsets it.
	want := []string{"followup.created " + f.ID + " v1", "customer_last_followup.changed " + custA + " v1",
		"followup.updated " + f.ID + " v2", "followup.completed " + f.ID + " v3", "followup.deleted " + f.ID + " v4",
		"customer_last_followup.changed " + custA + " v2"}
	if evs := outboxEvents(t, pool); fmt.Sprint(evs) != fmt.Sprint(want) {
		t.Fatalf("events = %v, want %v", evs, want)
	}
}

func TestListPagesByContactTimeWithinReach(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	customer(t, pool, custA, "u-sales1", "east", false)
	customer(t, pool, custB, "u-sales3", "west", false)
	base := time.Date(2026, 11, 1, 9, 0, 0, 0, cst)
	// Two records share a contact time, so the id must break the tie across pages.
	for i, at := range []int{0, 1, 2, 2, 3, 4, 5} {
		f := record(custA, base.Add(time.Duration(at)*time.Hour), nil)
		if i%2 == 1 {
			f.Method = followup.MethodVisit
		}
		if _, err := st.Create(ctx, f, store.CreateInput{}, admin); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Create(ctx, record(custB, base, nil), store.CreateInput{}, admin); err != nil {
		t.Fatal(err)
	}
	all := func(in store.ListInput) []*followup.FollowUp {
		var out []*followup.FollowUp
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
			if pages > 50 {
				t.Fatal("endless paging")
			}
		}
	}
	newest := followup.Order{Field: "contact_time", Desc: true}
	got := all(store.ListInput{CustomerID: custA, Order: newest, PageSize: 2})
	if len(got) != 7 {
		t.Fatalf("%d records of customer A", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i].ContactTime.After(got[i-1].ContactTime) || got[i].ID == got[i-1].ID {
			t.Fatalf("not newest first or repeated at %d: %v then %v", i, got[i-1].ContactTime, got[i].ContactTime)
		}
	}
	for _, order := range []followup.Order{{Field: "contact_time"}, {Field: "create_time", Desc: true}, {Field: "update_time"}} {
		if got := all(store.ListInput{Order: order, PageSize: 3}); len(got) != 8 {
			t.Fatalf("%v: %d records", order, len(got))
		}
	}
	if got := all(store.ListInput{Reach: store.Reach{OwnerID: "u-sales1"}, Order: newest, PageSize: 3}); len(got) != 7 {
		t.Fatalf("own reach: %d", len(got))
	}
	if got := all(store.ListInput{Reach: store.Reach{TeamID: "west"}, Order: newest, PageSize: 3}); len(got) != 1 {
		t.Fatalf("team reach: %d", len(got))
	}
	if got := all(store.ListInput{CustomerID: custA, Reach: store.Reach{OwnerID: "u-sales3"}, Order: newest, PageSize: 3}); len(got) != 0 {
		t.Fatalf("another rep lists customer A: %d", len(got))
	}
	conds, err := followup.ParseFilter(`method = visit AND contact_time >= "2026-11-01T10:00:00+08:00" AND done = false`, "method", "contact_time", "done")
	if err != nil {
		t.Fatal(err)
	}
	if got := all(store.ListInput{Conditions: conds, Order: newest, PageSize: 1}); len(got) != 3 {
		t.Fatalf("filtered: %d", len(got))
	}
	customer(t, pool, custB, "u-sales3", "west", true)
	if got := all(store.ListInput{Order: newest, PageSize: 10}); len(got) != 7 {
		t.Fatalf("deleted customer's records listed: %d", len(got))
	}
}

func TestListDue(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	customer(t, pool, custA, "u-sales1", "east", false)
	customer(t, pool, custB, "u-sales3", "west", false)
	day := func(d int) *followup.Date { return &followup.Date{Year: 2026, Month: 11, Day: d} }
	contact := time.Date(2026, 11, 1, 9, 0, 0, 0, cst)
	create := func(cust string, due *followup.Date, owner string) *followup.FollowUp {
		f := record(cust, contact, due)
		f.OwnerID = owner
		out, err := st.Create(ctx, f, store.CreateInput{}, admin)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	d20 := create(custA, day(20), "u-sales1")
	d22 := create(custA, day(22), "u-service")
	d22b := create(custA, day(22), "u-sales1")
	d30 := create(custA, day(30), "u-sales1")
	create(custA, nil, "u-sales1")
	create(custA, &followup.Date{Year: 2026, Month: 12, Day: 10}, "u-sales1")
	doneOne := create(custA, day(21), "u-sales1")
	if _, err := st.Update(ctx, store.UpdateInput{ID: doneOne.ID, Action: "completed", Apply: func(f *followup.FollowUp, now time.Time) error {
		return f.Complete("u-sales1", now)
	}}, admin); err != nil {
		t.Fatal(err)
	}
	gone := create(custB, day(21), "u-sales3")
	customer(t, pool, custB, "u-sales3", "west", true)
	_ = gone

	list := func(in store.DueInput) []string {
		var ids []string
		for {
			page, next, err := st.ListDue(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range page {
				ids = append(ids, f.ID)
			}
			if next == nil {
				return ids
			}
			in.After = next
		}
	}
	// Sorted by due date, then id; done records, later dates and deleted customers left out.
	want := []string{d20.ID, d22.ID, d22b.ID, d30.ID}
	if d22b.ID < d22.ID {
		want[1], want[2] = d22b.ID, d22.ID
	}
	if got := list(store.DueInput{Until: *day(30), PageSize: 1}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("due until 30th = %v, want %v", got, want)
	}
	if got := list(store.DueInput{Until: *day(22), PageSize: 2, OwnerID: "u-sales1"}); fmt.Sprint(got) != fmt.Sprint([]string{d20.ID, d22b.ID}) {
		t.Fatalf("u-sales1 until 22nd = %v", got)
	}
	if got := list(store.DueInput{Until: *day(30), PageSize: 5, Reach: store.Reach{OwnerID: "u-sales3", DeletedCustomers: true}}); len(got) != 0 {
		t.Fatalf("deleted customer's actions listed: %v", got)
	}
}
