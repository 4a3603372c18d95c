// Command needs runs the needs service: the gRPC NeedService (customer needs and the sales
// pipeline), its outbox relay to NATS JetStream, and the customer projection fed by the customer
// service's events.
//
//	needs           serve (the default)
//	needs migrate   apply the database migrations and exit
//
// Configuration (environment): DATABASE_URL, NATS_URL, NATS_REPLICAS, NEEDS_GRPC_ADDR,
// CUSTOMER_GRPC_ADDR, AUTH_HS256_SECRET or AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE, SERVICE_TOKEN,
// OTEL_EXPORTER_OTLP_ENDPOINT, LOG_FORMAT, LOG_LEVEL.
package main

import (
	"context"

	"github.com/crmsuite/crm/pkg/customerref"
	"github.com/crmsuite/crm/pkg/export"
	"github.com/crmsuite/crm/pkg/service"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	needsv1 "github.com/crmsuite/crm/proto/gen/go/crm/needs/v1"
	"github.com/crmsuite/crm/services/needs/internal/server"
	"github.com/crmsuite/crm/services/needs/internal/store"
)

func main() {
	service.Main(service.Spec{
		Name: "needs", Schema: store.Schema, Migrate: store.Migrate,
		AddrEnv: "NEEDS_GRPC_ADDR", DefaultAddr: "127.0.0.1:9104",
		Domain: server.Domain, Policy: server.Policy,
		Setup: func(_ context.Context, d *service.Deps) ([]func(context.Context) error, error) {
			conn, err := d.Dial("CUSTOMER_GRPC_ADDR", "127.0.0.1:9101")
			if err != nil {
				return nil, err
			}
			customers := customerref.New(d.Pool, customerv1.NewCustomerServiceClient(conn), d.Auth.SystemToken)
			exporter := &export.Exporter{Pool: d.Pool, Customers: customerv1.NewCustomerTransferServiceClient(conn), Log: d.Log}
			needsv1.RegisterNeedServiceServer(d.Server, server.New(store.New(d.Pool, server.EventData), customers, exporter, d.Log))
			return []func(context.Context) error{
				func(ctx context.Context) error { return customers.Consume(ctx, d.JS, d.NC, "needs-customers", d.Log) },
			}, nil
		},
	})
}
