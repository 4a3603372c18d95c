package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/crmsuite/crm/pkg/testkit"
	"github.com/crmsuite/crm/services/customer/internal/customer"
	"github.com/crmsuite/crm/services/customer/internal/store"
)

// TestFailedInsertLeavesNothing: when the insert fails after the claim, locks and check have run,
// none of the create's writes stays (the request id's claim, the customer, the event), and the
// same request id then creates the customer.
func TestFailedInsertLeavesNothing(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	in := store.CreateInput{RequestID: "req-1", RequestHash: []byte("h1")}
	bad := newCustomer(1, "u-sales1", "east")
	negative := int64(-1) // refused by the table's CHECK (amount_fen >= 0)
	bad.AmountFen = &negative
	if _, err := st.Create(ctx, bad, in, admin); err == nil {
		t.Fatal("create with a negative amount succeeded")
	}
	var customers, requests, events int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM create_requests),
		(SELECT count(*) FROM outbox)`).Scan(&customers, &requests, &events); err != nil {
		t.Fatal(err)
	}
	if customers != 0 || requests != 0 || events != 0 {
		t.Fatalf("after the failed create: %d customers, %d request ids, %d events", customers, requests, events)
	}
	for range 5 { // more than the pool's connections: none is left in a transaction
		if _, err := pool.Exec(ctx, `SELECT 1`); err != nil {
			t.Fatal(err)
		}
	}
	c, err := st.Create(ctx, newCustomer(1, "u-sales1", "east"), in, admin)
	if err != nil {
		t.Fatalf("create after the failed one: %v", err)
	}
	if evs := outboxEvents(t, pool); len(evs) != 1 || evs[0] != "customer.created "+c.ID {
		t.Fatalf("events = %v", evs)
	}
}

// TestDuplicateCheckKeepsOneIndexPlan: the duplicate check runs on one generic plan per
// connection instead of being planned on every create (0.3 ms on a million customers), and that
// plan looks each key up in its index even when it was made while the table was nearly empty, as
// on a new deployment: a plan is kept until the table's statistics change, however large the
// table grows meanwhile. (Before, PostgreSQL adopted a generic plan itself after five creates on
// a small table, and it walked the whole mobile index for the other keys.) The check still finds
// every kind of match on that plan, and keeps the plan through the creates it refuses: a refusal
// fails the create's batch, and pgx drops the cached statements of a failed batch (the create
// prepares them explicitly, pgdb.PrepareBatch).
func TestDuplicateCheckKeepsOneIndexPlan(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	// One backend: its plan cache is the one that counts.
	st, pool := newStoreWithPool(t, 1)
	// No ANALYZE behind the test's back: it would replace the cached plan.
	if _, err := pool.Exec(ctx, `ALTER TABLE customers SET (autovacuum_enabled = off)`); err != nil {
		t.Fatal(err)
	}
	const first = 8
	for i := range first {
		c := newCustomer(i, "u-sales1", "east")
		if i%2 == 0 {
			c.USCC = fmt.Sprintf("9144030019217%04dX", i)
			c.Email = fmt.Sprintf("buyer%d@example.com", i)
		}
		if _, err := st.Create(ctx, c, store.CreateInput{}, admin); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `INSERT INTO customers (id, name, name_key, type, uscc, contact_name, mobile, email,
			province, city, scale, status, owner_id, status_changed_at, status_changed_by, created_at, created_by,
			updated_at, updated_by)
		SELECT 'BULK-' || i, '批量' || i, '批量' || i, 'enterprise', '9133' || lpad(i::text, 14, '0'), '张三',
			'138' || lpad(i::text, 8, '0'), 'bulk' || i || '@example.com', '浙江省', '杭州市', '51-200', 'potential',
			'u-sales2', now(), 'u-admin', now(), 'u-admin', now(), 'u-admin'
		FROM generate_series(1, 20000) i`); err != nil {
		t.Fatal(err)
	}
	before := testkit.ReadsOf(t, pool, "customers").Rows
	cases := []struct {
		name  string
		set   func(c *customer.Customer)
		match string
	}{
		{"uscc", func(c *customer.Customer) { c.USCC = "913300000000012345" }, "uscc"},
		{"name", func(c *customer.Customer) { c.Name = "批量12346" }, "name"},
		{"mobile", func(c *customer.Customer) { c.Mobile = "13800012347" }, "mobile"},
		{"email", func(c *customer.Customer) { c.Email = "bulk12348@example.com" }, "email"},
	}
	for _, tc := range cases {
		c := newCustomer(100, "u-sales1", "east")
		tc.set(c)
		c.Normalise()
		var dup *customer.DuplicateError
		if _, err := st.Create(ctx, c, store.CreateInput{}, admin); !errors.As(err, &dup) ||
			len(dup.Candidates) != 1 || !slices.Contains(dup.Candidates[0].Matched, tc.match) {
			t.Errorf("same %s as a bulk row: %v %+v", tc.name, err, dup)
		}
	}
	if _, err := st.Create(ctx, newCustomer(101, "u-sales1", "east"), store.CreateInput{}, admin); err != nil {
		t.Fatal(err)
	}
	// Each check reads the rows that match its keys, one per duplicate here, and reads them again
	// to list them. A plan that scans a table or a whole index reads 20,000.
	if n := testkit.ReadsOf(t, pool, "customers").Rows - before; n > int64(2*len(cases)) {
		t.Errorf("the creates read %d rows of customers, want at most %d: the check must look its keys up in their indexes", n, 2*len(cases))
	}
	plans := func(prefix string) (generic, custom int64) {
		t.Helper()
		if err := pool.QueryRow(ctx, `SELECT generic_plans, custom_plans FROM pg_prepared_statements
			WHERE statement LIKE $1 || '%'`, prefix).Scan(&generic, &custom); err != nil {
			t.Fatalf("prepared statement %s…: %v", prefix, err)
		}
		return generic, custom
	}
	if generic, custom := plans("SELECT duplicates_block("); generic != int64(first+len(cases)+1) || custom != 0 {
		t.Errorf("the duplicate check ran on %d generic and %d custom plans, want %d and 0", generic, custom, first+len(cases)+1)
	}
	if generic, custom := plans("SELECT id, name, owner_id, uscc"); generic != int64(len(cases)) || custom != 0 {
		t.Errorf("the candidates were read on %d generic and %d custom plans, want %d and 0", generic, custom, len(cases))
	}
}

// TestRefusedCreateLeavesItsRequestIDFree: a create refused as a duplicate rolls back its claim
// of the request id with everything else, so the same request confirmed creates the customer, and
// sent again returns that customer; on a single connection, which each refusal must leave out of
// its failed transaction.
func TestRefusedCreateLeavesItsRequestIDFree(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, pool := newStoreWithPool(t, 1)
	first, err := st.Create(ctx, newCustomer(1, "u-sales1", "east"), store.CreateInput{}, admin)
	if err != nil {
		t.Fatal(err)
	}
	twin := func() *customer.Customer {
		c := newCustomer(2, "u-sales1", "east")
		c.Mobile = first.Mobile
		return c
	}
	in := store.CreateInput{RequestID: "req-twin", RequestHash: []byte("h")}
	var dup *customer.DuplicateError
	if _, err := st.Create(ctx, twin(), in, admin); !errors.As(err, &dup) || len(dup.Candidates) != 1 ||
		dup.Candidates[0].ID != first.ID || !slices.Equal(dup.Candidates[0].Matched, []string{"mobile"}) {
		t.Fatalf("same mobile: %v %+v", err, dup)
	}
	in.ConfirmNotDuplicate = true
	created, err := st.Create(ctx, twin(), in, admin)
	if err != nil {
		t.Fatalf("the same request confirmed: %v", err)
	}
	again, err := st.Create(ctx, twin(), in, admin)
	if err != nil || again.ID != created.ID {
		t.Fatalf("the request again: %v, %v; want %s", again, err, created.ID)
	}
	if evs := outboxEvents(t, pool); len(evs) != 2 {
		t.Fatalf("events = %v, want the two creates'", evs)
	}
}
