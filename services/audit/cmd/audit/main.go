// Command audit runs the audit service: it consumes every CRM change event from NATS JetStream
// into the append-only, hash-chained audit log and serves AuditService over gRPC.
//
//	audit           serve (the default)
//	audit migrate   apply the database migrations and exit
//
// Configuration (environment): DATABASE_URL, NATS_URL, NATS_REPLICAS, AUDIT_GRPC_ADDR,
// AUTH_HS256_SECRET or AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE, OTEL_EXPORTER_OTLP_ENDPOINT,
// LOG_FORMAT, LOG_LEVEL.
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
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/config"
	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/grpcx"
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/telemetry"
	auditv1 "github.com/crmsuite/crm/proto/gen/go/crm/audit/v1"
	"github.com/crmsuite/crm/services/audit/internal/server"
	"github.com/crmsuite/crm/services/audit/internal/store"
)

const (
	serviceName = "audit"
	version     = "dev"

	defaultGRPCAddr = "127.0.0.1:9102"

	// readinessEvery is how often health re-checks the database, NATS and the consumer.
	readinessEvery = 5 * time.Second
	// shutdownTimeout bounds each clean-up step on the way out.
	shutdownTimeout = 10 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := telemetry.Logger(serviceName)
	if err := run(ctx, log, os.Args[1:]); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("audit service stopped", "error", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, args []string) error {
	switch {
	case len(args) == 0 || args[0] == "serve":
		return serve(ctx, log)
	case args[0] == "migrate":
		return migrate(ctx, log)
	default:
		return fmt.Errorf("unknown command %q (want serve or migrate)", args[0])
	}
}

// migrate applies the migrations and returns.
func migrate(ctx context.Context, log *slog.Logger) error {
	pool, err := pgdb.Connect(ctx, config.String("DATABASE_URL", config.DefaultDatabaseURL), store.Schema)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := store.Migrate(ctx, pool); err != nil {
		return err
	}
	log.Info("migrations applied", "schema", store.Schema)
	return nil
}

// serve runs the gRPC server and the event consumer until ctx is done. Clean-ups run in reverse
// order of set-up (defers): the server and consumer stop first, then NATS, the pool, telemetry.
func serve(ctx context.Context, log *slog.Logger) error {
	// Refuse to start without a way to verify tokens, before touching anything else.
	auth, err := authn.FromEnv(ctx, serviceName)
	if err != nil {
		return err
	}

	shutdownTelemetry, err := telemetry.Setup(ctx, serviceName, version)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if err := shutdownTelemetry(sctx); err != nil {
			log.Warn("telemetry shutdown", "error", err)
		}
	}()

	pool, err := pgdb.Connect(ctx, config.String("DATABASE_URL", config.DefaultDatabaseURL), store.Schema)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := store.Migrate(ctx, pool); err != nil {
		return err
	}

	nc, err := events.Connect(config.String("NATS_URL", config.DefaultNATSURL), serviceName, log)
	if err != nil {
		return err
	}
	defer func() {
		// Consume has returned by now (errgroup waited), so nothing is left in flight.
		nc.Close()
	}()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}

	st := store.New(pool)
	srv := server.New(st, log)
	grpcServer, healthServer := grpcx.NewServer(grpcx.ServerConfig{
		Domain:   server.Domain,
		Verifier: auth.Verifier,
		Policy:   server.Policy(),
		Logger:   log,
	})
	auditv1.RegisterAuditServiceServer(grpcServer, srv)
	setHealth(healthServer, healthpb.HealthCheckResponse_NOT_SERVING)

	replicas := config.Int("NATS_REPLICAS", 1)
	addr := config.String("AUDIT_GRPC_ADDR", defaultGRPCAddr)
	log.Info("audit service starting", "grpc_addr", addr, "nats_replicas", replicas)

	g, gctx := errgroup.WithContext(ctx)
	// On the way out, report NOT_SERVING before the server stops taking calls, so that load
	// balancers stop routing first; Shutdown also ignores later status updates.
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(gctx))
	defer stopServing()
	g.Go(func() error {
		<-gctx.Done()
		healthServer.Shutdown()
		stopServing()
		return nil
	})
	g.Go(func() error { return grpcx.Serve(serveCtx, grpcServer, addr, log) })
	g.Go(func() error {
		if err := events.EnsureStreamRetry(gctx, js, replicas, log); err != nil {
			return err
		}
		if err := srv.Ingest(gctx, js, nc); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("consume events: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		watchReadiness(gctx, healthServer, pool, nc, js)
		return nil
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// A signal: a clean stop.
		err = nil
	}
	log.Info("audit service stopped")
	return err
}

// watchReadiness reports SERVING while the database answers, NATS is connected and the durable
// consumer exists (so events are being recorded), NOT_SERVING otherwise, until ctx is done.
func watchReadiness(ctx context.Context, hs *health.Server, pool *pgxpool.Pool, nc *nats.Conn, js jetstream.JetStream) {
	t := time.NewTicker(readinessEvery)
	defer t.Stop()
	for {
		status := healthpb.HealthCheckResponse_NOT_SERVING
		if ready(ctx, pool, nc, js) {
			status = healthpb.HealthCheckResponse_SERVING
		}
		setHealth(hs, status)
		// Check again soon while not ready, so start-up is quick to report.
		wait := t.C
		if status != healthpb.HealthCheckResponse_SERVING {
			wait = time.After(250 * time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return
		case <-wait:
		}
	}
}

func ready(ctx context.Context, pool *pgxpool.Pool, nc *nats.Conn, js jetstream.JetStream) bool {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := pool.Ping(cctx); err != nil || !nc.IsConnected() {
		return false
	}
	_, err := js.Consumer(cctx, events.StreamName, server.ConsumerName)
	return err == nil
}

func setHealth(hs *health.Server, s healthpb.HealthCheckResponse_ServingStatus) {
	hs.SetServingStatus("", s)
	hs.SetServingStatus(auditv1.AuditService_ServiceDesc.ServiceName, s)
}
