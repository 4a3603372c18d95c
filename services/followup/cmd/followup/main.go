// Command followup runs the follow-up service (客户联系记录): the gRPC FollowUpService, its outbox
// relay to NATS JetStream, and the consumer that keeps its projection of customers up to date.
//
//	followup           serve (the default)
//	followup migrate   apply the database migrations and exit
//
// Configuration (environment): DATABASE_URL, NATS_URL, NATS_REPLICAS, FOLLOWUP_GRPC_ADDR,
// CUSTOMER_GRPC_ADDR, AUTH_HS256_SECRET or AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE,
// SERVICE_TOKEN, OTEL_EXPORTER_OTLP_ENDPOINT, LOG_FORMAT, LOG_LEVEL.
package main

import (
	"context"

	"github.com/crmsuite/crm/pkg/customerref"
	"github.com/crmsuite/crm/pkg/export"
	"github.com/crmsuite/crm/pkg/service"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	followupv1 "github.com/crmsuite/crm/proto/gen/go/crm/followup/v1"
	"github.com/crmsuite/crm/services/followup/internal/server"
	"github.com/crmsuite/crm/services/followup/internal/store"
)

func main() {
	service.Main(service.Spec{
		Name: "followup", Schema: store.Schema, Migrate: store.Migrate,
		AddrEnv: "FOLLOWUP_GRPC_ADDR", DefaultAddr: "127.0.0.1:9103",
		Domain: server.Domain, Policy: server.Policy,
		Setup: func(_ context.Context, d *service.Deps) ([]func(context.Context) error, error) {
			conn, err := d.Dial("CUSTOMER_GRPC_ADDR", "127.0.0.1:9101")
			if err != nil {
				return nil, err
			}
			customers := customerref.New(d.Pool, customerv1.NewCustomerServiceClient(conn), d.Auth.SystemToken)
			exporter := &export.Exporter{Pool: d.Pool, Customers: customerv1.NewCustomerTransferServiceClient(conn), Log: d.Log}
			followupv1.RegisterFollowUpServiceServer(d.Server, server.New(store.New(d.Pool, server.EventData), customers, exporter, d.Log))
			return []func(context.Context) error{
				func(ctx context.Context) error {
					return customers.Consume(ctx, d.JS, d.NC, "followup-customers", d.Log)
				},
			}, nil
		},
	})
}
