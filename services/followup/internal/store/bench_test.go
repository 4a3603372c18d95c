package store_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmsuite/crm/pkg/testkit"
	"github.com/crmsuite/crm/services/followup/internal/followup"
	"github.com/crmsuite/crm/services/followup/internal/store"
)

// BenchmarkCreate creates records with request ids from 16 goroutines over the service's default
// pool (pgdb.DefaultMaxConns), as the service does under load, and reports the CPU time per create of
// this process and of the database's backends.
func BenchmarkCreate(b *testing.B) {
	ctx := context.Background()
	st, pool := newStore(b)
	customer(b, pool, "C1", "u-sales1", "east", false)
	var n atomic.Int64
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, cst)
	create := func() error {
		i := n.Add(1)
		_, err := st.Create(ctx, record("C1", at, nil),
			store.CreateInput{RequestID: "req-" + strconv.FormatInt(i, 10), RequestHash: []byte("h")}, admin)
		return err
	}
	testkit.RunParallel(b, pool, "creates/s", create)
}

// BenchmarkUpdate changes the content of 1,000 records, round robin, as BenchmarkCreate does.
func BenchmarkUpdate(b *testing.B) {
	ctx := context.Background()
	st, pool := newStore(b)
	customer(b, pool, "C1", "u-sales1", "east", false)
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, cst)
	ids := make([]string, 1000)
	for i := range ids {
		f, err := st.Create(ctx, record("C1", at, nil), store.CreateInput{}, admin)
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = f.ID
	}
	var n atomic.Int64
	update := func() error {
		i := n.Add(1)
		_, err := st.Update(ctx, store.UpdateInput{ID: ids[i%int64(len(ids))], Action: "updated",
			Apply: func(f *followup.FollowUp, _ time.Time) error {
				f.Content = fmt.Sprintf("第 %d 次电话沟通。", i)
				return nil
			}}, admin)
		return err
	}
	testkit.RunParallel(b, pool, "updates/s", update)
}
