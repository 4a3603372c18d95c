package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/crmsuite/crm/services/customer/internal/store"
)

// TestSetLastFollowUpKeepsTheNewestVersion: the follow-up service's events may arrive late, twice
// or out of order; the customer keeps the time of the highest version, which may be earlier than
// the one before it (the latest record was deleted) or none at all.
func TestSetLastFollowUpKeepsTheNewestVersion(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	ctx := context.Background()
	c, err := st.Create(ctx, newCustomer(1, "u-sales1", "east"), store.CreateInput{}, admin)
	if err != nil {
		t.Fatal(err)
	}
	nov := func(d int) *time.Time {
		at := time.Date(2026, 11, d, 9, 0, 0, 0, time.UTC)
		return &at
	}
	for i, step := range []struct {
		at      *time.Time
		version int64
		want    *time.Time
	}{
		{nov(12), 2, nov(12)},
		{nov(10), 1, nov(12)}, // late: version 1 arrives after 2
		{nov(12), 2, nov(12)}, // again
		{nov(5), 3, nov(5)},   // the latest record was deleted: back to an earlier one
		{nil, 4, nil},         // no record left
		{nov(20), 4, nil},     // a version already held changes nothing
	} {
		if err := st.SetLastFollowUps(ctx, []store.LastFollowUp{{CustomerID: c.ID, At: step.at, Version: step.version}}); err != nil {
			t.Fatal(err)
		}
		got, err := st.Get(ctx, c.ID, store.Reach{}, false)
		if err != nil {
			t.Fatal(err)
		}
		if (got.LastFollowUpAt == nil) != (step.want == nil) || (got.LastFollowUpAt != nil && !got.LastFollowUpAt.Equal(*step.want)) {
			t.Fatalf("step %d: last follow-up %v, want %v", i, got.LastFollowUpAt, step.want)
		}
		if got.Version != 1 {
			t.Fatalf("step %d: the customer's version moved to %d; a follow-up must not make an open edit stale", i, got.Version)
		}
	}
	// A customer this service does not hold is no error: there is nothing to update.
	if err := st.SetLastFollowUps(ctx, []store.LastFollowUp{{CustomerID: "C-UNKNOWN", At: nov(1), Version: 1}}); err != nil {
		t.Fatal(err)
	}
}

// TestABatchKeepsEachCustomersNewestVersion: the consumer hands over whole batches, in which one
// customer may appear several times and in any order; each customer ends on its highest version,
// as if the events had come one by one.
func TestABatchKeepsEachCustomersNewestVersion(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	ctx := context.Background()
	var ids []string
	for i := range 3 {
		c, err := st.Create(ctx, newCustomer(10+i, "u-sales1", "east"), store.CreateInput{}, admin)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	a, b, c := ids[0], ids[1], ids[2]
	nov := func(d int) *time.Time {
		at := time.Date(2026, 11, d, 9, 0, 0, 0, time.UTC)
		return &at
	}
	if err := st.SetLastFollowUps(ctx, []store.LastFollowUp{{CustomerID: c, At: nov(1), Version: 5}}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetLastFollowUps(ctx, []store.LastFollowUp{
		{CustomerID: a, At: nov(3), Version: 3},
		{CustomerID: b, At: nov(7), Version: 1},
		{CustomerID: a, At: nov(9), Version: 4}, // the newest of a
		{CustomerID: "C-UNKNOWN", At: nov(2), Version: 1},
		{CustomerID: a, At: nov(2), Version: 2},
		{CustomerID: c, At: nov(8), Version: 4}, // older than the version c holds
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetLevels(ctx, []store.Level{
		{CustomerID: b, Level: "high", Version: 2},
		{CustomerID: b, Level: "low", Version: 1},
		{CustomerID: c, Level: "medium", Version: 1},
	}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		id    string
		at    *time.Time
		level string
	}{{a, nov(9), ""}, {b, nov(7), "high"}, {c, nov(1), "medium"}} {
		got, err := st.Get(ctx, want.id, store.Reach{}, false)
		if err != nil {
			t.Fatal(err)
		}
		if got.LastFollowUpAt == nil || !got.LastFollowUpAt.Equal(*want.at) || got.Level != want.level {
			t.Errorf("%s: last follow-up %v and level %q, want %v and %q", want.id, got.LastFollowUpAt, got.Level, want.at, want.level)
		}
	}
}
