// Command customer runs the customer service: the gRPC CustomerService and
// CustomerTransferService (imports and exports), its outbox relay to NATS JetStream, the import
// job worker, and the consumers that keep 最近跟进时间 and 客户等级 from the follow-up and tagging
// services' events.
//
//	customer           serve (the default)
//	customer migrate   apply the database migrations and exit
//
// Configuration (environment): DATABASE_URL, NATS_URL, NATS_REPLICAS, CUSTOMER_GRPC_ADDR,
// AUDIT_GRPC_ADDR, CUSTOMER_IMPORT_MAX_BYTES, AUTH_HS256_SECRET or AUTH_JWKS_URL, AUTH_ISSUER,
// AUTH_AUDIENCE, SERVICE_TOKEN, OTEL_EXPORTER_OTLP_ENDPOINT, LOG_FORMAT, LOG_LEVEL.
package main

import (
	"context"

	"github.com/crmsuite/crm/pkg/config"
	"github.com/crmsuite/crm/pkg/service"
	auditv1 "github.com/crmsuite/crm/proto/gen/go/crm/audit/v1"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	"github.com/crmsuite/crm/services/customer/internal/server"
	"github.com/crmsuite/crm/services/customer/internal/store"
)

func main() {
	service.Main(service.Spec{
		Name: "customer", Schema: store.Schema, Migrate: store.Migrate,
		AddrEnv: "CUSTOMER_GRPC_ADDR", DefaultAddr: "127.0.0.1:9101",
		Domain: server.Domain, Policy: server.Policy,
		Setup: func(_ context.Context, d *service.Deps) ([]func(context.Context) error, error) {
			auditConn, err := d.Dial("AUDIT_GRPC_ADDR", "127.0.0.1:9102")
			if err != nil {
				return nil, err
			}
			st := store.New(d.Pool, server.EventData)
			customerv1.RegisterCustomerServiceServer(d.Server, server.New(st, auditv1.NewAuditServiceClient(auditConn), d.Auth.SystemToken, d.Log))
			// Imports run as jobs in a worker that the replicas share through the database.
			transfers := server.NewTransfer(store.NewTransfer(st), int64(config.Int("CUSTOMER_IMPORT_MAX_BYTES", server.DefaultMaxUploadBytes)), d.Log)
			customerv1.RegisterCustomerTransferServiceServer(d.Server, transfers)
			return []func(context.Context) error{
				transfers.Run,
				func(ctx context.Context) error { return server.NewDerived(st, d.Log).Run(ctx, d.JS, d.NC) },
			}, nil
		},
	})
}
