package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/testkit"
	"github.com/crmsuite/crm/services/customer/internal/customer"
	"github.com/crmsuite/crm/services/customer/internal/store"
)

// BenchmarkCreate creates customers with request ids from 16 goroutines over the store's pool,
// as the service does under load, with pools of 4 connections (pgx's default on up to 4 cores)
// and 8 (the services' default, pgdb.DefaultMaxConns), and reports the CPU time per create of this process (the store's Go side) and of the
// database's backends, which round trips drive as much as SQL does.
func BenchmarkCreate(b *testing.B) {
	for _, conns := range []int{4, 8} {
		b.Run(fmt.Sprintf("pool=%d", conns), func(b *testing.B) { benchmarkCreate(b, conns) })
	}
}

func benchmarkCreate(b *testing.B, conns int) {
	ctx := context.Background()
	pool, st := sizedStore(b, conns)
	var n atomic.Int64
	create := func() error {
		i := int(n.Add(1))
		_, err := st.Create(ctx, newCustomer(i, "u-sales1", "east"),
			store.CreateInput{RequestID: fmt.Sprintf("req-%d", i), RequestHash: []byte("h")}, admin)
		return err
	}
	testkit.RunParallel(b, pool, "creates/s", create)
}

// BenchmarkCreateOneInTenRefused is BenchmarkCreate over a pool of 8 where every tenth create has
// the name of an existing customer and is refused as a likely duplicate, as happens when sales
// reps enter customers that someone already has: a refusal costs more than a create that passes
// (it rolls back and reads the candidates again, and the connection prepares the create's
// statements anew, as pgx drops a failed batch's), so this shows what the mix costs per request.
func BenchmarkCreateOneInTenRefused(b *testing.B) {
	ctx := context.Background()
	pool, st := sizedStore(b, 8)
	if _, err := st.Create(ctx, newCustomer(0, "u-sales1", "east"), store.CreateInput{}, admin); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	create := func() error {
		i := int(n.Add(1))
		c := newCustomer(i, "u-sales1", "east")
		if i%10 == 0 {
			c.Name = newCustomer(0, "u-sales1", "east").Name
			c.Normalise()
		}
		_, err := st.Create(ctx, c, store.CreateInput{RequestID: fmt.Sprintf("req-%d", i), RequestHash: []byte("h")}, admin)
		var dup *customer.DuplicateError
		if i%10 == 0 && errors.As(err, &dup) {
			return nil
		}
		return err
	}
	testkit.RunParallel(b, pool, "requests/s", create)
}

// BenchmarkUpdate changes the remarks of 1,000 customers, round robin, from 16 goroutines over a
// pool of 4, and reports the CPU time per update as BenchmarkCreate does.
func BenchmarkUpdate(b *testing.B) {
	ctx := context.Background()
	pool, st := sizedStore(b, 4)
	const customers = 1000
	ids := make([]string, customers)
	for i := range ids {
		c, err := st.Create(ctx, newCustomer(i, "u-sales1", "east"), store.CreateInput{}, admin)
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = c.ID
	}
	var n atomic.Int64
	update := func() error {
		i := n.Add(1)
		_, err := st.Update(ctx, store.UpdateInput{ID: ids[i%customers], Action: "updated",
			Apply: func(c *customer.Customer, _ time.Time) error {
				c.Remarks = "备注 " + strconv.FormatInt(i, 10)
				return nil
			}}, admin)
		return err
	}
	testkit.RunParallel(b, pool, "updates/s", update)
}

// sizedStore returns a store on a fresh database whose pool has conns connections.
func sizedStore(b *testing.B, conns int) (*pgxpool.Pool, *store.Store) {
	ctx := context.Background()
	u, err := url.Parse(testkit.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", strconv.Itoa(conns))
	u.RawQuery = q.Encode()
	pool, err := pgdb.Connect(ctx, u.String(), store.Schema)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	if err := store.Migrate(ctx, pool); err != nil {
		b.Fatal(err)
	}
	return pool, store.New(pool, func(c *customer.Customer) proto.Message { return structpb.NewStringValue(c.ID) })
}
