package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	followupv1 "github.com/crmsuite/crm/proto/gen/go/crm/followup/v1"
	"github.com/crmsuite/crm/services/followup/internal/followup"
	"github.com/crmsuite/crm/services/followup/internal/store"
)

// lastFollowUps renders the customer_last_followup.changed events of customerID in the outbox, in
// the order written, as "v<version> <contact time or none>".
func lastFollowUps(t *testing.T, pool *pgxpool.Pool, customerID string) []string {
	t.Helper()
	var out []string
	for _, ev := range decodeOutbox(t, pool, "crm.followup.customer_last_followup.changed") {
		var l followupv1.CustomerLastFollowUp
		if err := ev.GetData().UnmarshalTo(&l); err != nil {
			t.Fatal(err)
		}
		if ev.GetSubject() != l.GetCustomerId() || ev.GetEntityType() != "customer_last_followup" {
			t.Fatalf("event %v with data %v", ev, &l)
		}
		if l.GetCustomerId() != customerID {
			continue
		}
		at := "none"
		if l.GetContactTime() != nil {
			at = l.GetContactTime().AsTime().In(cst).Format("01-02 15:04")
		}
		out = append(out, fmt.Sprintf("v%d %s", ev.GetEntityVersion(), at))
	}
	return out
}

func TestLastFollowUpMovesBothWays(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	customer(t, pool, custA, "u-sales1", "east", false)
	customer(t, pool, custB, "u-sales1", "east", false)
	day := func(d, h int) time.Time { return time.Date(2026, 11, d, h, 0, 0, 0, cst) }
	create := func(customerID string, at time.Time) *followup.FollowUp {
		t.Helper()
		f, err := st.Create(ctx, record(customerID, at, &followup.Date{Year: 2026, Month: 12, Day: 1}), store.CreateInput{}, admin)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	update := func(f *followup.FollowUp, action string, apply func(f *followup.FollowUp, now time.Time) error) {
		t.Helper()
		if _, err := st.Update(ctx, store.UpdateInput{ID: f.ID, Action: action, Apply: apply}, admin); err != nil {
			t.Fatal(err)
		}
	}
	remove := func(f *followup.FollowUp) {
		t.Helper()
		update(f, "deleted", func(f *followup.FollowUp, now time.Time) error {
			f.DeletedAt, f.DeletedBy = &now, "u-admin"
			return nil
		})
	}

	f1 := create(custA, day(10, 9))
	f2 := create(custA, day(5, 9)) // back-dated: earlier than the latest, nothing moves
	f3 := create(custA, day(12, 9))
	create(custB, day(20, 9)) // another customer's records are not counted
	update(f3, "updated", func(f *followup.FollowUp, _ time.Time) error {
		f.ContactTime = day(1, 9) // corrected to earlier than f1: back to f1's time
		return nil
	})
	update(f1, "completed", func(f *followup.FollowUp, now time.Time) error { return f.Complete("u-sales1", now) })
	update(f1, "updated", func(f *followup.FollowUp, _ time.Time) error {
		f.Content = "补充：客户要求周五前报价。"
		return nil
	})
	remove(f1)
	remove(f2)
	remove(f3)

	want := []string{"v1 11-10 09:00", "v2 11-12 09:00", "v3 11-10 09:00", "v4 11-05 09:00", "v5 11-01 09:00", "v6 none"}
	if got := lastFollowUps(t, pool, custA); !slices.Equal(got, want) {
		t.Fatalf("custA's last follow-up events = %v, want %v", got, want)
	}
	if got := lastFollowUps(t, pool, custB); !slices.Equal(got, []string{"v1 11-20 09:00"}) {
		t.Fatalf("custB's last follow-up events = %v", got)
	}
}

// TestLastFollowUpUnderConcurrentChanges changes one customer's records from many connections at
// once: the event of the highest version must hold the latest contact time of the records left,
// and no version may be published twice.
func TestLastFollowUpUnderConcurrentChanges(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	customer(t, pool, custA, "u-sales1", "east", false)
	base := time.Date(2026, 11, 1, 9, 0, 0, 0, cst)

	const workers, each = 8, 6
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(w), 7))
			var mine []*followup.FollowUp
			for range each {
				at := base.Add(time.Duration(rnd.IntN(30*24)) * time.Hour)
				f, err := st.Create(ctx, record(custA, at, nil), store.CreateInput{}, admin)
				if err != nil {
					errs <- err
					return
				}
				mine = append(mine, f)
				// Delete the latest of this worker's records half of the time, or move one back.
				switch rnd.IntN(4) {
				case 0, 1:
					_, err = st.Update(ctx, store.UpdateInput{ID: f.ID, Action: "deleted", Apply: func(f *followup.FollowUp, now time.Time) error {
						f.DeletedAt, f.DeletedBy = &now, "u-admin"
						return nil
					}}, admin)
					mine = mine[:len(mine)-1]
				case 2:
					if len(mine) > 0 {
						_, err = st.Update(ctx, store.UpdateInput{ID: mine[0].ID, Action: "updated", Apply: func(f *followup.FollowUp, _ time.Time) error {
							f.ContactTime = f.ContactTime.Add(-48 * time.Hour)
							return nil
						}}, admin)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	var latest *time.Time
	if err := pool.QueryRow(ctx, `SELECT max(contact_time) FROM followups WHERE customer_id = $1 AND deleted_at IS NULL`,
		custA).Scan(&latest); err != nil {
		t.Fatal(err)
	}
	want := "none"
	if latest != nil {
		want = latest.In(cst).Format("01-02 15:04")
	}
	got := lastFollowUps(t, pool, custA)
	if len(got) == 0 {
		t.Fatal("no last follow-up events")
	}
	// Versions are 1, 2, … without gaps or repeats; in outbox order, since each change commits
	// before the next one of this customer takes the lock.
	for i, ev := range got {
		var v int
		var at string
		if _, err := fmt.Sscanf(ev, "v%d %s", &v, &at); err != nil || v != i+1 {
			t.Fatalf("event %d is %q; all: %v", i, ev, got)
		}
	}
	last := got[len(got)-1]
	if last[len(fmt.Sprintf("v%d ", len(got))):] != want {
		t.Fatalf("last event %q, but the latest contact time left is %s; all: %v", last, want, got)
	}
}

// TestLastFollowUpReadsAfterTheLock holds the customer's lock in another transaction that adds a
// later record, while a create waits for the lock: once the other commits, the create must see that
// record, so it publishes nothing (the latest contact time is the other's, already published).
// Read before the lock, it would publish its own, earlier time as the latest.
func TestLastFollowUpReadsAfterTheLock(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	customer(t, pool, custA, "u-sales1", "east", false)
	early := time.Date(2026, 11, 3, 9, 0, 0, 0, cst)
	late := early.Add(72 * time.Hour)
	if _, err := st.Create(ctx, record(custA, early.Add(-time.Hour), nil), store.CreateInput{}, admin); err != nil {
		t.Fatal(err)
	}

	// The other writer: the same steps as the store's, by hand, holding the lock.
	other, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback(ctx)
	if _, err := other.Exec(ctx, `SELECT version FROM customer_last_followup WHERE customer_id = $1 FOR UPDATE`, custA); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(ctx, `INSERT INTO followups (id, customer_id, contact_name, method, contact_time, kind, content,
		owner_id, created_at, created_by, updated_at, updated_by)
		VALUES ('F-OTHER', $1, '陈静', 'visit', $2, 'initial', '上门拜访', 'u-sales1', now(), 'u-admin', now(), 'u-admin')`, custA, late); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(ctx, `UPDATE customer_last_followup SET contact_time = $2, version = version + 1 WHERE customer_id = $1`,
		custA, late); err != nil {
		t.Fatal(err)
	}

	created := make(chan error, 1)
	go func() {
		_, err := st.Create(ctx, record(custA, early, nil), store.CreateInput{}, admin)
		created <- err
	}()
	// Wait until the create waits for the lock.
	for deadline := time.Now().Add(10 * time.Second); ; {
		var waiting bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%customer_last_followup%')`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the create never waited for the customer's lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := other.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	// v1 is the first record's; v2 the other writer's, which publishes nothing here.
	if got := lastFollowUps(t, pool, custA); !slices.Equal(got, []string{"v1 11-03 08:00"}) {
		t.Fatalf("events = %v: the create published a time older than a committed record's", got)
	}
	var held time.Time
	var version int64
	if err := pool.QueryRow(ctx, `SELECT contact_time, version FROM customer_last_followup WHERE customer_id = $1`, custA).Scan(&held, &version); err != nil ||
		!held.Equal(late) || version != 2 {
		t.Fatalf("held %v v%d, %v", held, version, err)
	}
}
