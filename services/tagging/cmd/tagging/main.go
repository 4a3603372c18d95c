// Command tagging runs the tagging service: the gRPC TaggingService (tags, customer tags,
// segments), its outbox relay to NATS JetStream, and the consumer that keeps its customer
// projections (owner, team, deleted, merged; type, status, province) from the customer events.
//
//	tagging           serve (the default)
//	tagging migrate   apply the database migrations and exit
//
// Configuration (environment): DATABASE_URL, NATS_URL, NATS_REPLICAS, TAGGING_GRPC_ADDR,
// CUSTOMER_GRPC_ADDR, AUTH_HS256_SECRET or AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE,
// SERVICE_TOKEN, OTEL_EXPORTER_OTLP_ENDPOINT, LOG_FORMAT, LOG_LEVEL.
package main

import (
	"context"

	"github.com/crmsuite/crm/pkg/customerref"
	"github.com/crmsuite/crm/pkg/service"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	taggingv1 "github.com/crmsuite/crm/proto/gen/go/crm/tagging/v1"
	"github.com/crmsuite/crm/services/tagging/internal/server"
	"github.com/crmsuite/crm/services/tagging/internal/store"
)

func main() {
	service.Main(service.Spec{
		Name: "tagging", Schema: store.Schema, Migrate: store.Migrate,
		AddrEnv: "TAGGING_GRPC_ADDR", DefaultAddr: "127.0.0.1:9105",
		Domain: server.Domain, Policy: server.Policy,
		Setup: func(_ context.Context, d *service.Deps) ([]func(context.Context) error, error) {
			conn, err := d.Dial("CUSTOMER_GRPC_ADDR", "127.0.0.1:9101")
			if err != nil {
				return nil, err
			}
			refs := customerref.New(d.Pool, customerv1.NewCustomerServiceClient(conn), d.Auth.SystemToken)
			st := store.New(d.Pool, server.EventData())
			taggingv1.RegisterTaggingServiceServer(d.Server, server.New(st, refs, d.Log))
			return []func(context.Context) error{
				func(ctx context.Context) error { return st.ConsumeCustomerEvents(ctx, d.JS, d.NC, d.Log) },
			}, nil
		},
	})
}
