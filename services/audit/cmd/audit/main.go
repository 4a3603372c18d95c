// Command audit runs the audit service: it consumes every CRM change event from NATS JetStream
// into the append-only, hash-chained audit log and serves AuditService over gRPC.
//
//	audit           serve (the default)
//	audit migrate   apply the database migrations and exit
//
// It also publishes the analytics feed (pkg/analytics): every event again, with personal
// information masked, on analytics.crm.> for analytics subscribers; ANALYTICS_FEED=false turns it
// off.
//
// Configuration (environment): DATABASE_URL, NATS_URL, NATS_REPLICAS, ANALYTICS_FEED, AUDIT_GRPC_ADDR,
// AUTH_HS256_SECRET or AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE, OTEL_EXPORTER_OTLP_ENDPOINT,
// LOG_FORMAT, LOG_LEVEL.
package main

import (
	"context"

	"github.com/crmsuite/crm/pkg/analytics"
	"github.com/crmsuite/crm/pkg/config"
	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/service"
	auditv1 "github.com/crmsuite/crm/proto/gen/go/crm/audit/v1"
	"github.com/crmsuite/crm/services/audit/internal/server"
	"github.com/crmsuite/crm/services/audit/internal/store"
)

func main() {
	service.Main(service.Spec{
		Name: "audit", Schema: store.Schema, Migrate: store.Migrate,
		AddrEnv: "AUDIT_GRPC_ADDR", DefaultAddr: "127.0.0.1:9102",
		Domain: server.Domain, Policy: server.Policy(),
		// The audit service publishes nothing; it records what the others publish.
		NoOutbox: true,
		Setup: func(_ context.Context, d *service.Deps) ([]func(context.Context) error, error) {
			srv := server.New(store.New(d.Pool), d.Log)
			auditv1.RegisterAuditServiceServer(d.Server, srv)
			run := []func(context.Context) error{
				func(ctx context.Context) error { return srv.Ingest(ctx, d.JS, d.NC) },
			}
			if config.Bool("ANALYTICS_FEED", true) {
				run = append(run, func(ctx context.Context) error {
					return analytics.Feed(ctx, d.JS, d.NC, config.Int("NATS_REPLICAS", 1), d.Log)
				})
			}
			return run, nil
		},
		// Ready while the database answers, NATS is connected and the durable consumer exists,
		// that is, while events are being recorded.
		Ready: func(ctx context.Context, d *service.Deps) bool {
			if d.Pool.Ping(ctx) != nil || !d.NC.IsConnected() {
				return false
			}
			_, err := d.JS.Consumer(ctx, events.StreamName, server.ConsumerName)
			return err == nil
		},
	})
}
