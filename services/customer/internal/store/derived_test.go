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
		if err := st.SetLastFollowUp(ctx, c.ID, step.at, step.version); err != nil {
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
	if err := st.SetLastFollowUp(ctx, "C-UNKNOWN", nov(1), 1); err != nil {
		t.Fatal(err)
	}
}
