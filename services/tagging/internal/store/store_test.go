package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/testkit"
	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
	taggingv1 "github.com/crmsuite/crm/proto/gen/go/crm/tagging/v1"
	"github.com/crmsuite/crm/services/tagging/internal/server"
	"github.com/crmsuite/crm/services/tagging/internal/store"
	"github.com/crmsuite/crm/services/tagging/internal/tagging"
)

var admin = store.Actor{UserID: "u-admin", Role: "admin", TeamID: "hq"}

// The seeded level tags.
const (
	tagHigh   = "T20000101001"
	tagMedium = "T20000101002"
	tagLow    = "T20000101003"
)

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
	return store.New(pool, server.EventData()), pool
}

// customer puts a customer into the projection, as the customer events would.
func customer(t *testing.T, pool *pgxpool.Pool, id, owner, team string, deleted bool, mergedInto string) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), `INSERT INTO customer_refs (customer_id, owner_id, team_id, deleted, merged_into, version)
		VALUES ($1, $2, $3, $4, $5, 1)`, id, owner, team, deleted, mergedInto); err != nil {
		t.Fatal(err)
	}
}

func newTag(t *testing.T, st *store.Store, c tagging.Category, name string) *tagging.Tag {
	t.Helper()
	tag := &tagging.Tag{Category: c, Name: name}
	tag.Normalise()
	if err := tag.Validate(); err != nil {
		t.Fatal(err)
	}
	out, err := st.CreateTag(context.Background(), tag, store.Request{}, admin)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func assign(t *testing.T, st *store.Store, customerID, tagID string) *tagging.Assignment {
	t.Helper()
	a, err := st.Assign(context.Background(), customerID, tagID, store.Reach{}, admin)
	if err != nil {
		t.Fatalf("assign %s to %s: %v", tagID, customerID, err)
	}
	return a
}

type outboxEvent struct {
	typ, subject string
	version      int64
	ev           *eventsv1.Event
}

// outboxEvents returns the events in the outbox, oldest first, optionally of one type only.
func outboxEvents(t *testing.T, pool *pgxpool.Pool, typ string) []outboxEvent {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT payload FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []outboxEvent
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		ev, err := events.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if typ == "" || ev.GetType() == typ {
			out = append(out, outboxEvent{ev.GetType(), ev.GetSubject(), ev.GetEntityVersion(), ev})
		}
	}
	return out
}

// levelEvents renders the customer_level.changed events as "subject level@version".
func levelEvents(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	var out []string
	for _, e := range outboxEvents(t, pool, "customer_level.changed") {
		var l taggingv1.CustomerLevel
		if err := e.ev.GetData().UnmarshalTo(&l); err != nil {
			t.Fatal(err)
		}
		if l.GetCustomerId() != e.subject {
			t.Fatalf("level event subject %s carries customer %s", e.subject, l.GetCustomerId())
		}
		out = append(out, fmt.Sprintf("%s %s@%d", e.subject, l.GetLevel(), e.version))
	}
	return out
}

func history(t *testing.T, st *store.Store, customerID string) []string {
	t.Helper()
	list, _, err := st.History(context.Background(), store.HistoryInput{CustomerID: customerID, PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(list) - 1; i >= 0; i-- { // oldest first reads more naturally
		h := list[i]
		s := h.Action + " " + h.TagName
		if h.Reason != "" {
			s += " (" + h.Reason + ")"
		}
		out = append(out, s)
	}
	return out
}

func TestSeededLevelTags(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	list, next, err := st.ListTags(context.Background(), store.ListTagsInput{Category: tagging.CategoryLevel, PageSize: 10})
	if err != nil || next != nil {
		t.Fatal(err, next)
	}
	var got []string
	for _, tag := range list {
		got = append(got, tag.ID+" "+tag.Name+" "+string(tag.LevelValue))
	}
	want := []string{tagMedium + " 中价值 medium", tagLow + " 低价值 low", tagHigh + " 高价值 high"}
	slices.Sort(got)
	slices.Sort(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("level tags = %v", got)
	}
}

func TestTagNamesAndLevelsAreUnique(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	ctx := context.Background()
	vip := newTag(t, st, tagging.CategoryCustom, "VIP客户")
	if !strings.HasPrefix(vip.ID, "T") || len(vip.ID) != 12 {
		t.Fatalf("tag id %q", vip.ID)
	}
	if _, err := st.CreateTag(ctx, &tagging.Tag{Category: tagging.CategoryCustom, Name: "ｖｉｐ客户"}, store.Request{}, admin); !errors.Is(err, tagging.ErrTagNameTaken) {
		t.Fatalf("same name in other width and case: %v", err)
	}
	newTag(t, st, tagging.CategorySource, "VIP客户") // another category is fine
	if _, err := st.CreateTag(ctx, &tagging.Tag{Category: tagging.CategoryLevel, Name: "重点", LevelValue: tagging.LevelHigh}, store.Request{}, admin); !errors.Is(err, tagging.ErrLevelTaken) {
		t.Fatalf("second high level tag: %v", err)
	}
	// After the seeded high tag is deleted, another may stand for high, and its name is free again.
	if _, err := st.DeleteTag(ctx, tagHigh, 0, admin); err != nil {
		t.Fatal(err)
	}
	again, err := st.CreateTag(ctx, &tagging.Tag{Category: tagging.CategoryLevel, Name: "高价值", LevelValue: tagging.LevelHigh}, store.Request{}, admin)
	if err != nil || again.ID == tagHigh {
		t.Fatalf("recreate high: %v %v", again, err)
	}
	if _, err := st.UpdateTag(ctx, vip.ID, 0, func(tag *tagging.Tag) error { tag.Name = "高价值"; return nil }, admin); err != nil {
		t.Fatalf("a name taken only in another category: %v", err)
	}
	other := newTag(t, st, tagging.CategoryCustom, "其他")
	if _, err := st.UpdateTag(ctx, other.ID, 0, func(tag *tagging.Tag) error { tag.Name = " 高价值"; tag.Normalise(); return nil }, admin); !errors.Is(err, tagging.ErrTagNameTaken) {
		t.Fatalf("rename onto a taken name: %v", err)
	}
}

func TestCreateTagIsIdempotent(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	req := store.Request{ID: "r-1", Hash: []byte("h1")}
	var wg sync.WaitGroup
	got := make([]string, 5)
	errs := make([]error, 5)
	for i := range got {
		wg.Go(func() {
			tag, err := st.CreateTag(ctx, &tagging.Tag{Category: tagging.CategoryNeed, Name: "系统集成"}, req, admin)
			errs[i] = err
			if err == nil {
				got[i] = tag.ID
			}
		})
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || got[i] != got[0] {
			t.Fatalf("concurrent retries: %v %v", got, errs)
		}
	}
	if n := len(outboxEvents(t, pool, "tag.created")); n != 1 {
		t.Fatalf("%d tag.created events", n)
	}
	if _, err := st.CreateTag(ctx, &tagging.Tag{Category: tagging.CategoryNeed, Name: "别的"}, store.Request{ID: "r-1", Hash: []byte("h2")}, admin); !errors.Is(err, tagging.ErrRequestUsed) {
		t.Fatalf("reused request id: %v", err)
	}
}

func TestUpdateTagEtag(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	tag := newTag(t, st, tagging.CategoryBehavior, "定期采购")
	rename := func(version int64, name string) (*tagging.Tag, error) {
		return st.UpdateTag(ctx, tag.ID, version, func(x *tagging.Tag) error { x.Name = name; return nil }, admin)
	}
	up, err := rename(tag.Version, "定期采购客户")
	if err != nil || up.Version != 2 {
		t.Fatalf("update: %v %v", up, err)
	}
	if _, err := rename(tag.Version, "x"); !errors.Is(err, tagging.ErrStaleEtag) {
		t.Fatalf("stale: %v", err)
	}
	if same, err := rename(0, "定期采购客户"); err != nil || same.Version != 2 {
		t.Fatalf("no-op update: %v %v", same, err)
	}
	evs := outboxEvents(t, pool, "tag.updated")
	if len(evs) != 1 || evs[0].version != 2 || evs[0].ev.GetChanges()[0].GetField() != "name" {
		t.Fatalf("tag.updated events = %+v", evs)
	}
}

func TestLevelIsSingleValued(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	const c = "CUST-20260101-0001"
	customer(t, pool, c, "u-sales1", "east", false, "")
	need := newTag(t, st, tagging.CategoryNeed, "系统集成")
	assign(t, st, c, need.ID)
	first := assign(t, st, c, tagHigh)
	// Assigning the same tag again changes nothing and publishes nothing.
	before := len(outboxEvents(t, pool, ""))
	again := assign(t, st, c, tagHigh)
	if !again.AssignedAt.Equal(first.AssignedAt) || len(outboxEvents(t, pool, "")) != before {
		t.Fatalf("repeated assign: %+v vs %+v", again, first)
	}
	assign(t, st, c, tagLow) // replaces high
	list, level, err := st.CustomerTags(ctx, c, store.Reach{}, false)
	if err != nil || level != tagging.LevelLow || len(list) != 2 || list[0].Tag.ID != tagLow || list[1].Tag.ID != need.ID {
		t.Fatalf("after replacing: level %q %v %v", level, list, err)
	}
	if err := st.Remove(ctx, c, tagLow, store.Reach{}, admin); err != nil {
		t.Fatal(err)
	}
	if err := st.Remove(ctx, c, tagLow, store.Reach{}, admin); !errors.Is(err, tagging.ErrAssignmentNotFound) {
		t.Fatalf("second remove: %v", err)
	}
	assign(t, st, c, tagMedium)
	if _, err := st.DeleteTag(ctx, tagMedium, 0, admin); err != nil {
		t.Fatal(err)
	}
	// Removing a non-level tag does not touch the level.
	if err := st.Remove(ctx, c, need.ID, store.Reach{}, admin); err != nil {
		t.Fatal(err)
	}
	wantLevels := []string{c + " high@1", c + " low@2", c + " @3", c + " medium@4", c + " @5"}
	if got := levelEvents(t, pool); fmt.Sprint(got) != fmt.Sprint(wantLevels) {
		t.Fatalf("level events = %v, want %v", got, wantLevels)
	}
	wantHistory := []string{"assigned 系统集成", "assigned 高价值", "removed 高价值 (replaced)", "assigned 低价值",
		"removed 低价值", "assigned 中价值", "removed 中价值 (tag_deleted)", "removed 系统集成"}
	if got := history(t, st, c); fmt.Sprint(got) != fmt.Sprint(wantHistory) {
		t.Fatalf("history = %v, want %v", got, wantHistory)
	}
	// customer_tag events carry a per-customer version that grows by one per change.
	var versions []int64
	for _, e := range outboxEvents(t, pool, "") {
		if strings.HasPrefix(e.typ, "customer_tag.") {
			versions = append(versions, e.version)
		}
	}
	if fmt.Sprint(versions) != "[1 2 3 4 5 6 7 8]" {
		t.Fatalf("customer_tag versions = %v", versions)
	}
}

func TestConcurrentLevelAssignmentsKeepOneLevel(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	const c = "CUST-20260101-0002"
	customer(t, pool, c, "u-sales1", "east", false, "")
	levels := []string{tagHigh, tagMedium, tagLow}
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Go(func() {
			if _, err := st.Assign(ctx, c, levels[i%3], store.Reach{}, admin); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	list, level, err := st.CustomerTags(ctx, c, store.Reach{}, false)
	if err != nil || len(list) != 1 || list[0].Tag.LevelValue != level {
		t.Fatalf("after concurrent assigns: %v %q %v", list, level, err)
	}
	got := levelEvents(t, pool)
	for i, e := range got {
		if !strings.HasSuffix(e, fmt.Sprintf("@%d", i+1)) {
			t.Fatalf("level versions not 1, 2, 3…: %v", got)
		}
	}
	if last := got[len(got)-1]; !strings.Contains(last, " "+string(level)+"@") {
		t.Fatalf("last level event %s, level %s", last, level)
	}
}

func TestAssignChecksCustomerAndTag(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	customer(t, pool, "CUST-20260101-0001", "u-sales1", "east", false, "")
	customer(t, pool, "CUST-20260101-0002", "u-sales1", "east", true, "")
	customer(t, pool, "CUST-20260101-0003", "u-sales1", "east", false, "CUST-20260101-0001")
	tag := newTag(t, st, tagging.CategoryNeed, "系统集成")
	gone := newTag(t, st, tagging.CategoryNeed, "已删除")
	if _, err := st.DeleteTag(ctx, gone.ID, 0, admin); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, customer, tag string
		reach               store.Reach
		want                error
	}{
		{"unknown customer", "CUST-20260101-0009", tag.ID, store.Reach{}, tagging.ErrCustomerNotFound},
		{"another rep's customer", "CUST-20260101-0001", tag.ID, store.Reach{OwnerID: "u-sales2"}, tagging.ErrCustomerNotFound},
		{"another team's customer", "CUST-20260101-0001", tag.ID, store.Reach{TeamID: "west"}, tagging.ErrCustomerNotFound},
		{"deleted customer", "CUST-20260101-0002", tag.ID, store.Reach{}, tagging.ErrCustomerDeleted},
		{"merged customer", "CUST-20260101-0003", tag.ID, store.Reach{}, tagging.ErrCustomerDeleted},
		{"deleted tag", "CUST-20260101-0001", gone.ID, store.Reach{}, tagging.ErrTagNotFound},
		{"unknown tag", "CUST-20260101-0001", "T20260101999", store.Reach{}, tagging.ErrTagNotFound},
		{"own customer", "CUST-20260101-0001", tag.ID, store.Reach{OwnerID: "u-sales1"}, nil},
		{"team's customer", "CUST-20260101-0001", tagLow, store.Reach{TeamID: "east"}, nil},
	}
	for _, c := range cases {
		_, err := st.Assign(ctx, c.customer, c.tag, c.reach, admin)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Reads: a deleted customer's tags are found only when deleted customers are included.
	if _, _, err := st.CustomerTags(ctx, "CUST-20260101-0002", store.Reach{}, false); !errors.Is(err, tagging.ErrCustomerNotFound) {
		t.Fatalf("deleted customer's tags: %v", err)
	}
	if _, _, err := st.CustomerTags(ctx, "CUST-20260101-0002", store.Reach{}, true); err != nil {
		t.Fatalf("deleted customer's tags for admins: %v", err)
	}
	if _, _, err := st.History(ctx, store.HistoryInput{CustomerID: "CUST-20260101-0001", Reach: store.Reach{OwnerID: "u-sales2"}, PageSize: 5}); !errors.Is(err, tagging.ErrCustomerNotFound) {
		t.Fatalf("another rep reads the history: %v", err)
	}
}

func TestDeleteTagRemovesItsAssignments(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	tag := newTag(t, st, tagging.CategoryBehavior, "价格敏感")
	keep := newTag(t, st, tagging.CategoryBehavior, "定期采购")
	for i := 1; i <= 3; i++ {
		c := fmt.Sprintf("CUST-20260101-%04d", i)
		customer(t, pool, c, "u-sales1", "east", false, "")
		assign(t, st, c, tag.ID)
		assign(t, st, c, keep.ID)
	}
	if _, err := st.DeleteTag(ctx, tag.ID, 1, admin); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DeleteTag(ctx, tag.ID, 0, admin); !errors.Is(err, tagging.ErrTagNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	for i := 1; i <= 3; i++ {
		c := fmt.Sprintf("CUST-20260101-%04d", i)
		list, _, err := st.CustomerTags(ctx, c, store.Reach{}, false)
		if err != nil || len(list) != 1 || list[0].Tag.ID != keep.ID {
			t.Fatalf("%s tags = %v %v", c, list, err)
		}
		if h := history(t, st, c); h[len(h)-1] != "removed 价格敏感 (tag_deleted)" {
			t.Fatalf("%s history = %v", c, h)
		}
	}
	if n := len(outboxEvents(t, pool, "customer_tag.removed")); n != 3 {
		t.Fatalf("%d customer_tag.removed events", n)
	}
	if evs := outboxEvents(t, pool, "tag.deleted"); len(evs) != 1 || evs[0].version != 2 {
		t.Fatalf("tag.deleted = %+v", evs)
	}
	if len(levelEvents(t, pool)) != 0 {
		t.Fatal("a behaviour tag changed levels")
	}
	got, err := st.GetTag(ctx, tag.ID)
	if err != nil || got.DeletedAt == nil || got.DeletedBy != admin.UserID {
		t.Fatalf("deleted tag = %+v %v", got, err)
	}
}

func TestHistoryPages(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	const c = "CUST-20260101-0001"
	customer(t, pool, c, "u-sales1", "east", false, "")
	for _, l := range []string{tagHigh, tagMedium, tagLow} {
		assign(t, st, c, l) // 5 entries: assigned, removed+assigned, removed+assigned
	}
	var all []int64
	var after int64
	for range 4 {
		page, next, err := st.History(ctx, store.HistoryInput{CustomerID: c, PageSize: 2, After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range page {
			all = append(all, h.ID)
		}
		if after = next; after == 0 {
			break
		}
	}
	if len(all) != 5 || !slices.IsSortedFunc(all, func(a, b int64) int { return int(b - a) }) {
		t.Fatalf("history ids across pages = %v", all)
	}
}

func TestSegmentsCRUD(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	mk := func(name string) *tagging.Segment {
		g := &tagging.Segment{Name: name, Expression: "level = high"}
		out, err := st.CreateSegment(ctx, g, store.Request{}, admin)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b, c := mk("高价值客户"), mk("集成需求"), mk("华南")
	if !strings.HasPrefix(a.ID, "SEG") || len(a.ID) != 14 {
		t.Fatalf("segment id %q", a.ID)
	}
	for _, name := range []string{"华南", " 华南 "} {
		if _, err := st.CreateSegment(ctx, &tagging.Segment{Name: name, Expression: "tag:x"}, store.Request{}, admin); !errors.Is(err, tagging.ErrSegmentNameTaken) {
			t.Fatalf("duplicate name %q: %v", name, err)
		}
	}
	page, next, err := st.ListSegments(ctx, 2, nil)
	if err != nil || len(page) != 2 || next == nil || page[0].ID != c.ID || page[1].ID != b.ID {
		t.Fatalf("first page %v %v %v", page, next, err)
	}
	rest, next2, err := st.ListSegments(ctx, 2, next)
	if err != nil || next2 != nil || len(rest) != 1 || rest[0].ID != a.ID {
		t.Fatalf("second page %v %v %v", rest, next2, err)
	}
	up, err := st.UpdateSegment(ctx, b.ID, b.Version, false, func(g *tagging.Segment) error { g.Expression = `need:"系统集成"`; return nil }, admin)
	if err != nil || up.Version != 2 {
		t.Fatalf("update: %v %v", up, err)
	}
	if _, err := st.UpdateSegment(ctx, b.ID, 1, true, func(*tagging.Segment) error { return nil }, admin); !errors.Is(err, tagging.ErrStaleEtag) {
		t.Fatalf("stale delete: %v", err)
	}
	if _, err := st.UpdateSegment(ctx, a.ID, 0, true, func(*tagging.Segment) error { return nil }, admin); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetSegment(ctx, a.ID); !errors.Is(err, tagging.ErrSegmentNotFound) {
		t.Fatalf("deleted segment: %v", err)
	}
	var types []string
	for _, e := range outboxEvents(t, pool, "") {
		if strings.HasPrefix(e.typ, "segment.") {
			types = append(types, e.typ)
		}
	}
	if len(types) < 5 || types[len(types)-1] != "segment.deleted" || types[len(types)-2] != "segment.updated" {
		t.Fatalf("segment events = %v", types)
	}
}

// customerEvent builds a customer event as the customer service publishes it.
func customerEvent(t *testing.T, id string, version int64, typ customerv1.CustomerType, status customerv1.CustomerStatus, province string) *eventsv1.Event {
	t.Helper()
	data, err := anypb.New(&customerv1.Customer{CustomerId: id, Type: typ, Status: status, Address: &customerv1.Address{Province: province}})
	if err != nil {
		t.Fatal(err)
	}
	return &eventsv1.Event{Id: fmt.Sprintf("e-%s-%d", id, version), Type: "customer.updated", Source: "customer", EntityType: "customer",
		Subject: id, EntityVersion: version, Data: data}
}

func TestCustomerAttributesIgnoreOlderEvents(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	const c = "CUST-20260101-0001"
	for _, ev := range []*eventsv1.Event{
		customerEvent(t, c, 1, customerv1.CustomerType_CUSTOMER_TYPE_ENTERPRISE, customerv1.CustomerStatus_CUSTOMER_STATUS_POTENTIAL, "广东"),
		customerEvent(t, c, 3, customerv1.CustomerType_CUSTOMER_TYPE_PARTNER, customerv1.CustomerStatus_CUSTOMER_STATUS_ACTIVE, "浙江省"),
		customerEvent(t, c, 2, customerv1.CustomerType_CUSTOMER_TYPE_OTHER, customerv1.CustomerStatus_CUSTOMER_STATUS_LOST, "北京"),
		{Id: "x", Type: "followup.created", EntityType: "followup", Subject: "F1"},
	} {
		if err := st.ApplyCustomerEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	var typ, status, province string
	var version int64
	if err := pool.QueryRow(ctx, `SELECT type, status, province, version FROM customer_attrs WHERE customer_id = $1`, c).
		Scan(&typ, &status, &province, &version); err != nil {
		t.Fatal(err)
	}
	if typ != "partner" || status != "active" || province != "浙江省" || version != 3 {
		t.Fatalf("attrs = %s %s %s v%d", typ, status, province, version)
	}
}

// TestCustomerAttributesSkipChangesOfOtherFields: an update whose change list names none of the
// attributes leaves the row as it is (no new row version), one that names an attribute or finds
// the row stale (an event lost) writes it.
func TestCustomerAttributesSkipChangesOfOtherFields(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	const c = "CUST-20260101-0003"
	enterprise, potential := customerv1.CustomerType_CUSTOMER_TYPE_ENTERPRISE, customerv1.CustomerStatus_CUSTOMER_STATUS_POTENTIAL
	changing := func(ev *eventsv1.Event, fields ...string) *eventsv1.Event {
		for _, f := range fields {
			ev.Changes = append(ev.Changes, &commonv1.FieldChange{Field: f})
		}
		return ev
	}
	attrs := func() (status string, version int64) {
		t.Helper()
		if err := pool.QueryRow(ctx, `SELECT status, version FROM customer_attrs WHERE customer_id = $1`, c).Scan(&status, &version); err != nil {
			t.Fatal(err)
		}
		return status, version
	}
	steps := []struct {
		ev          *eventsv1.Event
		wantStatus  string
		wantVersion int64
	}{
		{customerEvent(t, c, 1, enterprise, potential, "广东"), "potential", 1},
		{changing(customerEvent(t, c, 2, enterprise, potential, "广东"), "remarks", "mobile"), "potential", 1},
		{changing(customerEvent(t, c, 3, enterprise, customerv1.CustomerStatus_CUSTOMER_STATUS_INTENTION, "广东"), "status"), "intention", 3},
		// Version 4 (to active) was lost; version 5 changes the remarks and carries the status.
		{changing(customerEvent(t, c, 5, enterprise, customerv1.CustomerStatus_CUSTOMER_STATUS_ACTIVE, "广东"), "remarks"), "active", 5},
	}
	for i, step := range steps {
		if err := st.ApplyCustomerEvent(ctx, step.ev); err != nil {
			t.Fatal(err)
		}
		if status, version := attrs(); status != step.wantStatus || version != step.wantVersion {
			t.Errorf("step %d: %s v%d, want %s v%d", i, status, version, step.wantStatus, step.wantVersion)
		}
	}
}

func TestListTagsPagesInCategoryOrder(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	ctx := context.Background()
	for _, d := range []struct {
		c    tagging.Category
		name string
	}{{tagging.CategoryCustom, "b"}, {tagging.CategoryNeed, "需求"}, {tagging.CategoryCustom, "A"}, {tagging.CategorySource, "战略客户"}} {
		newTag(t, st, d.c, d.name)
	}
	gone := newTag(t, st, tagging.CategoryCustom, "c")
	if _, err := st.DeleteTag(ctx, gone.ID, 0, admin); err != nil {
		t.Fatal(err)
	}
	list := func(showDeleted bool) []string {
		var out []string
		var after *store.TagCursor
		for range 10 {
			page, next, err := st.ListTags(ctx, store.ListTagsInput{ShowDeleted: showDeleted, PageSize: 2, After: after})
			if err != nil {
				t.Fatal(err)
			}
			for _, tag := range page {
				out = append(out, string(tag.Category)+"/"+tag.Name)
			}
			if after = next; next == nil {
				return out
			}
		}
		t.Fatal("too many pages")
		return nil
	}
	want := "[level/中价值 level/低价值 level/高价值 need/需求 source/战略客户 custom/A custom/b]"
	if got := fmt.Sprint(list(false)); got != want {
		t.Fatalf("tags = %s, want %s", got, want)
	}
	if got := list(true); len(got) != 8 || got[7] != "custom/c" {
		t.Fatalf("with deleted = %v", got)
	}
}

func TestCustomerProjectionsInOneBatchKeepTheNewest(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	const c1, c2 = "CUST-20260101-0001", "CUST-20260101-0002"
	batch := []*eventsv1.Event{
		customerEvent(t, c1, 1, customerv1.CustomerType_CUSTOMER_TYPE_ENTERPRISE, customerv1.CustomerStatus_CUSTOMER_STATUS_POTENTIAL, "广东"),
		customerEvent(t, c2, 1, customerv1.CustomerType_CUSTOMER_TYPE_OTHER, customerv1.CustomerStatus_CUSTOMER_STATUS_LOST, "北京"),
		customerEvent(t, c1, 3, customerv1.CustomerType_CUSTOMER_TYPE_PARTNER, customerv1.CustomerStatus_CUSTOMER_STATUS_ACTIVE, "浙江省"),
		customerEvent(t, c1, 2, customerv1.CustomerType_CUSTOMER_TYPE_OTHER, customerv1.CustomerStatus_CUSTOMER_STATUS_LOST, "北京"),
		{Id: "x", Type: "followup.created", EntityType: "followup", Subject: "F1"},
	}
	if err := st.ApplyCustomerEvents(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := st.ApplyCustomerEvents(ctx, batch[:2]); err != nil { // older than what is stored: no change
		t.Fatal(err)
	}
	tests := []struct {
		id, typ, status, province string
		version                   int64
	}{
		{c1, "partner", "active", "浙江省", 3},
		{c2, "other", "lost", "北京市", 1},
	}
	for _, tt := range tests {
		var typ, status, province string
		var version int64
		if err := pool.QueryRow(ctx, `SELECT type, status, province, version FROM customer_attrs WHERE customer_id = $1`, tt.id).
			Scan(&typ, &status, &province, &version); err != nil {
			t.Fatal(err)
		}
		if typ != tt.typ || status != tt.status || province != tt.province || version != tt.version {
			t.Errorf("%s: attrs = %s %s %s v%d, want %s %s %s v%d", tt.id, typ, status, province, version, tt.typ, tt.status, tt.province, tt.version)
		}
		if err := pool.QueryRow(ctx, `SELECT version FROM customer_refs WHERE customer_id = $1`, tt.id).Scan(&version); err != nil {
			t.Fatal(err)
		}
		if version != tt.version {
			t.Errorf("%s: customer ref v%d, want v%d (the same batch keeps both projections)", tt.id, version, tt.version)
		}
	}
}
