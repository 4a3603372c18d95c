package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/testkit"
	"github.com/crmsuite/crm/services/customer/internal/customer"
	"github.com/crmsuite/crm/services/customer/internal/store"
)

// BenchmarkCreate creates customers with request ids from 16 goroutines over the store's pool,
// as the service does under load, and reports the CPU time per create of this process (the
// store's Go side) and of the database's backends, which round trips drive as much as SQL does.
func BenchmarkCreate(b *testing.B) {
	ctx := context.Background()
	pool, err := pgdb.Connect(ctx, testkit.NewDatabase(b), store.Schema)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	if err := store.Migrate(ctx, pool); err != nil {
		b.Fatal(err)
	}
	st := store.New(pool, func(c *customer.Customer) proto.Message { return structpb.NewStringValue(c.ID) })
	var n atomic.Int64
	create := func() error {
		i := int(n.Add(1))
		_, err := st.Create(ctx, newCustomer(i, "u-sales1", "east"),
			store.CreateInput{RequestID: fmt.Sprintf("req-%d", i), RequestHash: []byte("h")}, admin)
		return err
	}
	// Warm up: open the pool's connections and prepare their statements before measuring.
	for range 100 {
		if err := create(); err != nil {
			b.Fatal(err)
		}
	}
	cpu := startCPU(b, pool)
	b.ResetTimer()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := create(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	goCPU, pgCPU := cpu.stop(b)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
	b.ReportMetric(goCPU*1e3/float64(b.N), "go-cpu-ms/op")
	b.ReportMetric(pgCPU*1e3/float64(b.N), "pg-cpu-ms/op")
}
