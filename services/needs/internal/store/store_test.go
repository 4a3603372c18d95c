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
	"github.com/crmsuite/crm/services/needs/internal/need"
	"github.com/crmsuite/crm/services/needs/internal/store"
)

var admin = store.Actor{UserID: "u-admin", Role: "admin", TeamID: "hq"}

func newStore(t *testing.T) (*store.Store, *pgxpool.Pool) {
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
	// Migrations are idempotent: a second replica starting applies nothing.
	if err := store.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	return store.New(pool, func(n *need.Need) proto.Message { return structpb.NewStringValue(n.ID) }), pool
}

// customer puts a customer into the projection, as its events would.
func customer(t *testing.T, pool *pgxpool.Pool, id, owner, team string, deleted bool) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), `INSERT INTO customer_refs (customer_id, owner_id, team_id, deleted, version)
		VALUES ($1, $2, $3, $4, 1) ON CONFLICT (customer_id) DO UPDATE SET owner_id = $2, team_id = $3, deleted = $4`,
		id, owner, team, deleted); err != nil {
		t.Fatal(err)
	}
}

func fen(v int64) *int64 { return &v }

func newNeed(customerID, owner string, stage need.Stage, amount *int64) *need.Need {
	n := &need.Need{CustomerID: customerID, Title: "MES 系统实施", Type: need.TypeCustomService, Stage: stage,
		OwnerID: owner, AmountFen: amount, Competitors: []string{"西门子"}}
	if stage == need.StageLost {
		n.LostReason = "预算取消"
	}
	return n
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
		out = append(out, fmt.Sprintf("%s %s v%d", events.Subject(ev), ev.GetSubject(), ev.GetEntityVersion()))
	}
	return out
}

func TestCreateGetReachAndEvent(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	customer(t, pool, "CUST-1", "u-sales1", "east", false)
	n, err := st.Create(ctx, newNeed("CUST-1", "u-sales1", need.StageInitial, fen(100)), store.CreateInput{}, admin)
	if err != nil {
		t.Fatal(err)
	}
	if len(n.ID) != 12 || n.ID[0] != 'D' || n.Version != 1 {
		t.Fatalf("created %+v", n)
	}
	got, err := st.Get(ctx, n.ID, store.Reach{OwnerID: "u-sales1"})
	if err != nil || got.Title != n.Title || got.TeamID != "east" || *got.AmountFen != 100 || got.Competitors[0] != "西门子" ||
		!got.CreatedAt.Equal(n.CreatedAt) || got.BudgetMinFen != nil || got.CloseDate != nil {
		t.Fatalf("get = %+v, %v", got, err)
	}
	for _, reach := range []store.Reach{{OwnerID: "u-sales2"}, {TeamID: "west"}} {
		if _, err := st.Get(ctx, n.ID, reach); !errors.Is(err, need.ErrNotFound) {
			t.Fatalf("%+v sees the need: %v", reach, err)
		}
	}
	if _, err := st.Get(ctx, n.ID, store.Reach{TeamID: "east"}); err != nil {
		t.Fatalf("team east: %v", err)
	}
	if evs := outboxEvents(t, pool); len(evs) != 1 || evs[0] != "crm.needs.need.created "+n.ID+" v1" {
		t.Fatalf("outbox = %v", evs)
	}
	changes, next, err := st.StageChanges(ctx, n.ID, store.Reach{}, 10, 0)
	if err != nil || next != 0 || len(changes) != 1 || changes[0].From != "" || changes[0].To != need.StageInitial {
		t.Fatalf("history = %+v %d %v", changes, next, err)
	}

	// A customer moved to another owner takes its needs along: the projection decides.
	customer(t, pool, "CUST-1", "u-sales2", "east", false)
	if _, err := st.Get(ctx, n.ID, store.Reach{OwnerID: "u-sales2"}); err != nil {
		t.Fatalf("new owner: %v", err)
	}
	// Needs of a deleted customer are out of reach except for admins.
	customer(t, pool, "CUST-1", "u-sales2", "east", true)
	if _, err := st.Get(ctx, n.ID, store.Reach{OwnerID: "u-sales2"}); !errors.Is(err, need.ErrNotFound) {
		t.Fatalf("deleted customer's need: %v", err)
	}
	if got, err := st.Get(ctx, n.ID, store.Reach{DeletedCustomers: true}); err != nil || !got.CustomerDeleted {
		t.Fatalf("admin: %+v %v", got, err)
	}
	_, err = st.Update(ctx, store.UpdateInput{ID: n.ID, Reach: store.Reach{DeletedCustomers: true}, Action: "updated",
		Apply: func(n *need.Need, _ time.Time) error { n.Title = "x"; return nil }}, admin)
	if !errors.Is(err, need.ErrCustomerDeleted) {
		t.Fatalf("update of a deleted customer's need: %v", err)
	}
}

func TestIdempotentCreate(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	customer(t, pool, "CUST-1", "u-sales1", "east", false)
	in := store.CreateInput{RequestID: "r-1", RequestHash: []byte("h1")}
	// Concurrent retries of one request create one need.
	var wg sync.WaitGroup
	got := make([]string, 5)
	errs := make([]error, 5)
	for i := range got {
		wg.Go(func() {
			n, err := st.Create(ctx, newNeed("CUST-1", "u-sales1", need.StageInitial, nil), in, admin)
			errs[i] = err
			if err == nil {
				got[i] = n.ID
			}
		})
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || got[i] != got[0] {
			t.Fatalf("retry %d: %s %v (first %s)", i, got[i], errs[i], got[0])
		}
	}
	if evs := outboxEvents(t, pool); len(evs) != 1 {
		t.Fatalf("outbox = %v", evs)
	}
	if _, err := st.Create(ctx, newNeed("CUST-1", "u-sales1", need.StageInitial, nil), store.CreateInput{RequestID: "r-1", RequestHash: []byte("h2")}, admin); !errors.Is(err, need.ErrRequestUsed) {
		t.Fatalf("reused id with other content: %v", err)
	}
	// Request ids are per caller.
	other := store.Actor{UserID: "u-admin2", Role: "admin"}
	if n, err := st.Create(ctx, newNeed("CUST-1", "u-sales1", need.StageInitial, nil), in, other); err != nil || n.ID == got[0] {
		t.Fatalf("other caller: %v %v", n, err)
	}
}

func TestUpdateEtagStageHistoryAndEvents(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	customer(t, pool, "CUST-1", "u-sales1", "east", false)
	n, err := st.Create(ctx, newNeed("CUST-1", "u-sales1", need.StageInitial, fen(500)), store.CreateInput{}, admin)
	if err != nil {
		t.Fatal(err)
	}
	sales := store.Actor{UserID: "u-sales1", Role: "sales", TeamID: "east"}
	own := store.Reach{OwnerID: "u-sales1"}
	stage := func(to need.Stage, reason string, version int64) (*need.Need, error) {
		return st.Update(ctx, store.UpdateInput{ID: n.ID, Reach: own, Version: version, Action: "stage_changed", Reason: reason,
			Apply: func(x *need.Need, now time.Time) error { return x.ChangeStage(to, reason, sales.UserID, now) }}, sales)
	}
	up, err := stage(need.StageQuotation, "", 1)
	if err != nil || up.Version != 2 || up.Stage != need.StageQuotation || up.StageChangedBy != "u-sales1" {
		t.Fatalf("to quotation: %+v %v", up, err)
	}
	if _, err := stage(need.StageNegotiation, "", 1); !errors.Is(err, need.ErrStaleEtag) {
		t.Fatalf("stale etag: %v", err)
	}
	var te *need.TransitionError
	if _, err := stage(need.StageQuotation, "", 0); !errors.As(err, &te) {
		t.Fatalf("to the same stage: %v", err)
	}
	if _, err := stage(need.StageLost, "客户选择了竞品", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := stage(need.StageNegotiation, "", 0); !errors.As(err, &te) {
		t.Fatalf("out of lost without reopening: %v", err)
	}
	reopened, err := st.Update(ctx, store.UpdateInput{ID: n.ID, Reach: own, Action: "reopened", Reason: "客户重新评估",
		Apply: func(x *need.Need, now time.Time) error {
			return x.Reopen(need.StageProposal, "客户重新评估", sales.UserID, now)
		}}, sales)
	if err != nil || reopened.Stage != need.StageProposal || reopened.LostReason != "" || reopened.Version != 4 {
		t.Fatalf("reopen: %+v %v", reopened, err)
	}
	// A change that changes nothing saves nothing.
	same, err := st.Update(ctx, store.UpdateInput{ID: n.ID, Reach: own, Action: "updated",
		Apply: func(x *need.Need, _ time.Time) error { x.Title = n.Title; return nil }}, sales)
	if err != nil || same.Version != 4 {
		t.Fatalf("no-op update: %+v %v", same, err)
	}
	// Someone else's rep cannot touch it.
	if _, err := st.Update(ctx, store.UpdateInput{ID: n.ID, Reach: store.Reach{OwnerID: "u-sales2"}, Action: "updated",
		Apply: func(x *need.Need, _ time.Time) error { x.Title = "y"; return nil }}, sales); !errors.Is(err, need.ErrNotFound) {
		t.Fatalf("other rep: %v", err)
	}

	changes, _, err := st.StageChanges(ctx, n.ID, own, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	var path []string
	for _, c := range changes {
		path = append(path, fmt.Sprintf("%s>%s:%s:%v", c.From, c.To, c.Reason, c.Reopened))
	}
	want := []string{">initial::false", "initial>quotation::false", "quotation>lost:客户选择了竞品:false", "lost>proposal:客户重新评估:true"}
	if fmt.Sprint(path) != fmt.Sprint(want) {
		t.Fatalf("history = %v, want %v", path, want)
	}
	page, next, err := st.StageChanges(ctx, n.ID, own, 3, 0)
	if err != nil || len(page) != 3 || next == 0 {
		t.Fatalf("first page: %v %d %v", page, next, err)
	}
	if rest, next, err := st.StageChanges(ctx, n.ID, own, 3, next); err != nil || len(rest) != 1 || next != 0 || rest[0].To != need.StageProposal {
		t.Fatalf("second page: %v %d %v", rest, next, err)
	}
	if _, _, err := st.StageChanges(ctx, n.ID, store.Reach{OwnerID: "u-sales2"}, 3, 0); !errors.Is(err, need.ErrNotFound) {
		t.Fatalf("other rep reads the history: %v", err)
	}

	deleted, err := st.Update(ctx, store.UpdateInput{ID: n.ID, Reach: own, Action: "deleted",
		Apply: func(x *need.Need, now time.Time) error { x.DeletedAt, x.DeletedBy = &now, sales.UserID; return nil }}, sales)
	if err != nil || deleted.DeletedAt == nil {
		t.Fatalf("delete: %+v %v", deleted, err)
	}
	if _, err := st.Get(ctx, n.ID, store.Reach{}); !errors.Is(err, need.ErrNotFound) {
		t.Fatalf("deleted need still found: %v", err)
	}
	wantEvents := []string{"created", "stage_changed", "stage_changed", "reopened", "deleted"}
	evs := outboxEvents(t, pool)
	if len(evs) != len(wantEvents) {
		t.Fatalf("outbox = %v", evs)
	}
	for i, w := range wantEvents {
		if want := fmt.Sprintf("crm.needs.need.%s %s v%d", w, n.ID, i+1); evs[i] != want {
			t.Errorf("event %d = %s, want %s", i, evs[i], want)
		}
	}
}

func TestListFiltersOrdersAndPages(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	customer(t, pool, "CUST-1", "u-sales1", "east", false)
	customer(t, pool, "CUST-2", "u-sales2", "east", false)
	customer(t, pool, "CUST-3", "u-sales3", "west", false)
	customer(t, pool, "CUST-4", "u-sales1", "east", false)
	var made []*need.Need
	for i, c := range []struct {
		customer string
		stage    need.Stage
		close    *need.Date
	}{
		{"CUST-1", need.StageInitial, &need.Date{Year: 2026, Month: 12, Day: 1}},
		{"CUST-1", need.StageNegotiation, nil},
		{"CUST-2", need.StageNegotiation, &need.Date{Year: 2026, Month: 10, Day: 15}},
		{"CUST-3", need.StageWon, &need.Date{Year: 2027, Month: 1, Day: 31}},
		{"CUST-4", need.StageLost, &need.Date{Year: 2026, Month: 11, Day: 30}},
	} {
		n := newNeed(c.customer, fmt.Sprintf("u-owner%d", i%2), c.stage, nil)
		n.CloseDate = c.close
		got, err := st.Create(ctx, n, store.CreateInput{}, admin)
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, got)
	}
	customer(t, pool, "CUST-4", "u-sales1", "east", true)

	ids := func(in store.ListInput) []string {
		t.Helper()
		var out []string
		for {
			page, next, err := st.List(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range page {
				out = append(out, n.ID)
			}
			if next == nil {
				return out
			}
			in.After = next
		}
	}
	cond := func(s string) []need.Condition {
		c, err := need.ParseFilter(s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	byCreate := need.Order{Field: "create_time"}
	tests := []struct {
		name string
		in   store.ListInput
		want []int
	}{
		{"everything live, in creation order", store.ListInput{Order: byCreate}, []int{0, 1, 2, 3}},
		{"newest first", store.ListInput{Order: need.Order{Field: "create_time", Desc: true}}, []int{3, 2, 1, 0}},
		{"admins see deleted customers' needs", store.ListInput{Order: byCreate, Reach: store.Reach{DeletedCustomers: true}}, []int{0, 1, 2, 3, 4}},
		{"sales1's customers", store.ListInput{Order: byCreate, Reach: store.Reach{OwnerID: "u-sales1"}}, []int{0, 1}},
		{"team east", store.ListInput{Order: byCreate, Reach: store.Reach{TeamID: "east"}}, []int{0, 1, 2}},
		{"stage", store.ListInput{Order: byCreate, Conditions: cond("stage = NEGOTIATION")}, []int{1, 2}},
		{"not negotiation", store.ListInput{Order: byCreate, Conditions: cond("stage != negotiation")}, []int{0, 3}},
		{"customer", store.ListInput{Order: byCreate, Conditions: cond(`customer_id = "cust-1"`)}, []int{0, 1}},
		{"owner of the need", store.ListInput{Order: byCreate, Conditions: cond("owner_id = u-owner1")}, []int{1, 3}},
		{"team filter within reach", store.ListInput{Order: byCreate, Reach: store.Reach{TeamID: "east"}, Conditions: cond("team_id = west")}, nil},
		{"close date range", store.ListInput{Order: byCreate, Conditions: cond("expected_close_date >= 2026-11-01 AND expected_close_date <= 2026-12-31")}, []int{0}},
		{"close date not given counts as different", store.ListInput{Order: byCreate, Conditions: cond("expected_close_date != 2026-12-01")}, []int{1, 2, 3}},
		{"by close date, undated last", store.ListInput{Order: need.Order{Field: "expected_close_date"}}, []int{2, 0, 3, 1}},
		{"by close date desc, undated first", store.ListInput{Order: need.Order{Field: "expected_close_date", Desc: true}}, []int{1, 3, 0, 2}},
	}
	for _, tt := range tests {
		for _, size := range []int{1, 2, 50} {
			in := tt.in
			in.PageSize = size
			got := ids(in)
			var want []string
			for _, i := range tt.want {
				want = append(want, made[i].ID)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s (pages of %d): %v, want %v", tt.name, size, got, want)
			}
		}
	}
}

func TestPipelineSumsExactly(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	customer(t, pool, "CUST-1", "u-sales1", "east", false)
	customer(t, pool, "CUST-2", "u-sales2", "east", false)
	customer(t, pool, "CUST-3", "u-sales3", "west", false)
	customer(t, pool, "CUST-9", "u-sales1", "east", false)
	create := func(c, owner string, stage need.Stage, amount *int64, close *need.Date) *need.Need {
		n := newNeed(c, owner, stage, amount)
		n.CloseDate = close
		got, err := st.Create(ctx, n, store.CreateInput{}, admin)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	dec := &need.Date{Year: 2026, Month: 12, Day: 15}
	create("CUST-1", "u-sales1", need.StageInitial, fen(1_000_001), dec)
	create("CUST-1", "u-sales1", need.StageInitial, fen(3), dec)
	create("CUST-1", "u-sales1", need.StageInitial, nil, dec) // counts, adds nothing
	create("CUST-2", "u-sales2", need.StageNegotiation, fen(9_999_999_99), nil)
	create("CUST-3", "u-sales3", need.StageWon, fen(12_345), dec)
	gone := create("CUST-2", "u-sales2", need.StageWon, fen(7), dec)
	create("CUST-9", "u-sales1", need.StageWon, fen(50_000), dec) // customer deleted below
	customer(t, pool, "CUST-9", "u-sales1", "east", true)
	if _, err := st.Update(ctx, store.UpdateInput{ID: gone.ID, Action: "deleted",
		Apply: func(x *need.Need, now time.Time) error { x.DeletedAt = &now; return nil }}, admin); err != nil {
		t.Fatal(err)
	}

	rows := func(in store.PipelineInput) string {
		t.Helper()
		r, err := st.Pipeline(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(r)
	}
	tests := []struct {
		name string
		in   store.PipelineInput
		want string
	}{
		{"all", store.PipelineInput{Reach: store.Reach{DeletedCustomers: true}},
			"[{u-sales1 initial 3 1000004} {u-sales2 negotiation 1 999999999} {u-sales3 won 1 12345}]"},
		{"sales1", store.PipelineInput{Reach: store.Reach{OwnerID: "u-sales1"}}, "[{u-sales1 initial 3 1000004}]"},
		{"team east", store.PipelineInput{Reach: store.Reach{TeamID: "east"}},
			"[{u-sales1 initial 3 1000004} {u-sales2 negotiation 1 999999999}]"},
		{"owner filter", store.PipelineInput{OwnerID: "u-sales3"}, "[{u-sales3 won 1 12345}]"},
		{"team filter narrows a manager", store.PipelineInput{Reach: store.Reach{TeamID: "east"}, TeamID: "west"}, "[]"},
		{"close date range", store.PipelineInput{CloseFrom: &need.Date{Year: 2026, Month: 12, Day: 1}, CloseTo: &need.Date{Year: 2026, Month: 12, Day: 31}},
			"[{u-sales1 initial 3 1000004} {u-sales3 won 1 12345}]"},
	}
	for _, tt := range tests {
		if got := rows(tt.in); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}
