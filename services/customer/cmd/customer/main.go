// Command customer runs the customer service: the gRPC CustomerService, its outbox relay to NATS
// JetStream, and its migrations (`customer migrate` applies them and exits).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/config"
	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/grpcx"
	"github.com/crmsuite/crm/pkg/outbox"
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/telemetry"
	auditv1 "github.com/crmsuite/crm/proto/gen/go/crm/audit/v1"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	"github.com/crmsuite/crm/services/customer/internal/server"
	"github.com/crmsuite/crm/services/customer/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := telemetry.Logger("customer")
	if err := run(ctx, log, os.Args[1:]); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("customer service stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, args []string) error {
	dbURL := config.String("DATABASE_URL", config.DefaultDatabaseURL)
	pool, err := pgdb.Connect(ctx, dbURL, store.Schema)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := store.Migrate(ctx, pool); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(args) > 0 && args[0] == "migrate" {
		log.Info("migrations applied")
		return nil
	}

	shutdownTelemetry, err := telemetry.Setup(ctx, "customer", "dev")
	if err != nil {
		return err
	}
	defer func() { _ = shutdownTelemetry(context.Background()) }()

	auth, err := authn.FromEnv(ctx, "customer")
	if err != nil {
		return err
	}
	nc, err := events.Connect(config.String("NATS_URL", config.DefaultNATSURL), "customer", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}

	auditConn, err := grpcx.Dial(config.String("AUDIT_GRPC_ADDR", "127.0.0.1:9102"))
	if err != nil {
		return err
	}
	defer auditConn.Close()

	st := store.New(pool, server.EventData)
	srv, health := grpcx.NewServer(grpcx.ServerConfig{Domain: server.Domain, Verifier: auth.Verifier, Policy: server.Policy, Logger: log})
	customerv1.RegisterCustomerServiceServer(srv, server.New(st, auditv1.NewAuditServiceClient(auditConn), auth.SystemToken, log))
	// Imports and exports; imports run as jobs in a worker shared by the replicas through the database.
	transfers := server.NewTransfer(store.NewTransfer(st), int64(config.Int("CUSTOMER_IMPORT_MAX_BYTES", server.DefaultMaxUploadBytes)), log)
	customerv1.RegisterCustomerTransferServiceServer(srv, transfers)

	relay := outbox.NewRelay(pool, js, outbox.RelayConfig{Schema: store.Schema}, log)
	g, gctx := errgroup.WithContext(ctx)
	// On the way out, report NOT_SERVING before the server stops taking calls.
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(gctx))
	defer stopServing()
	g.Go(func() error {
		<-gctx.Done()
		health.Shutdown()
		stopServing()
		return nil
	})
	g.Go(func() error {
		return grpcx.Serve(serveCtx, srv, config.String("CUSTOMER_GRPC_ADDR", "127.0.0.1:9101"), log)
	})
	// Writes do not wait for NATS: the relay keeps events in the outbox until the stream answers.
	g.Go(func() error {
		if err := events.EnsureStreamRetry(gctx, js, config.Int("NATS_REPLICAS", 1), log); err != nil {
			return err
		}
		return relay.Run(gctx)
	})
	g.Go(func() error { watchDatabase(gctx, health, pool); return nil })
	g.Go(func() error { return transfers.Run(gctx) })
	g.Go(func() error {
		if err := events.EnsureStreamRetry(gctx, js, config.Int("NATS_REPLICAS", 1), log); err != nil {
			return err
		}
		return server.NewDerived(st, log).Run(gctx, js, nc)
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = nil
	}
	log.Info("customer service stopped")
	return err
}

// watchDatabase reports SERVING while the database answers. NATS is not part of readiness: the
// service takes writes while NATS is down and the outbox holds the events.
func watchDatabase(ctx context.Context, hs *health.Server, pool *pgxpool.Pool) {
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		status := grpc_health_v1.HealthCheckResponse_SERVING
		if err := pool.Ping(cctx); err != nil {
			status = grpc_health_v1.HealthCheckResponse_NOT_SERVING
		}
		cancel()
		hs.SetServingStatus("", status)
		hs.SetServingStatus(customerv1.CustomerService_ServiceDesc.ServiceName, status)
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}
