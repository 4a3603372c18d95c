package store_test

import (
	"context"
	"testing"

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
