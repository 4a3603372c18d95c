// Command tagging runs the tagging service: the gRPC TaggingService (tags, customer tags,
// segments), its outbox relay to NATS JetStream, and the consumers that keep its customer
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
	"github.com/crmsuite/crm/pkg/customerref"
	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/grpcx"
	"github.com/crmsuite/crm/pkg/outbox"
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/telemetry"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	taggingv1 "github.com/crmsuite/crm/proto/gen/go/crm/tagging/v1"
	"github.com/crmsuite/crm/services/tagging/internal/server"
	"github.com/crmsuite/crm/services/tagging/internal/store"
)

const (
	serviceName     = "tagging"
	defaultGRPCAddr = "127.0.0.1:9105"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := telemetry.Logger(serviceName)
	if err := run(ctx, log, os.Args[1:]); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("tagging service stopped", "error", err)
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
		return fmt.Errorf("migrate: %w", err)
	}
	log.Info("migrations applied", "schema", store.Schema)
	return nil
}

// serve runs the gRPC server, the relay and the consumers until ctx is done. Clean-ups run in
// reverse order of set-up (defers): the server and consumers stop first, then the customer
// connection, NATS, the pool, telemetry.
func serve(ctx context.Context, log *slog.Logger) error {
	// Refuse to start without a way to verify tokens, before touching anything else.
	auth, err := authn.FromEnv(ctx, serviceName)
	if err != nil {
		return err
	}
	shutdownTelemetry, err := telemetry.Setup(ctx, serviceName, "dev")
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
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
		return fmt.Errorf("migrate: %w", err)
	}

	nc, err := events.Connect(config.String("NATS_URL", config.DefaultNATSURL), serviceName, log)
	if err != nil {
		return err
	}
	// The relay and the consumers have returned by the time this runs (errgroup waited).
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}

	customerConn, err := grpcx.Dial(config.String("CUSTOMER_GRPC_ADDR", "127.0.0.1:9101"))
	if err != nil {
		return err
	}
	defer customerConn.Close()
	refs := customerref.New(pool, customerv1.NewCustomerServiceClient(customerConn), auth.SystemToken)

	st := store.New(pool, server.EventData())
	srv, healthServer := grpcx.NewServer(grpcx.ServerConfig{Domain: server.Domain, Verifier: auth.Verifier, Policy: server.Policy, Logger: log})
	taggingv1.RegisterTaggingServiceServer(srv, server.New(st, refs, log))
	relay := outbox.NewRelay(pool, js, outbox.RelayConfig{Schema: store.Schema}, log)

	addr := config.String("TAGGING_GRPC_ADDR", defaultGRPCAddr)
	log.Info("tagging service starting", "grpc_addr", addr)
	g, gctx := errgroup.WithContext(ctx)
	// On the way out, report NOT_SERVING before the server stops taking calls.
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(gctx))
	defer stopServing()
	g.Go(func() error {
		<-gctx.Done()
		healthServer.Shutdown()
		stopServing()
		return nil
	})
	g.Go(func() error { return grpcx.Serve(serveCtx, srv, addr, log) })
	// Writes do not wait for NATS: the relay keeps events in the outbox until the stream answers.
	g.Go(func() error {
		if err := events.EnsureStreamRetry(gctx, js, config.Int("NATS_REPLICAS", 1), log); err != nil {
			return err
		}
		return relay.Run(gctx)
	})
	g.Go(func() error { return refs.Consume(gctx, js, nc, "tagging-customers", log) })
	g.Go(func() error { return st.ConsumeCustomerAttrs(gctx, js, nc, "tagging-customer-attrs", log) })
	g.Go(func() error { watchDatabase(gctx, healthServer, pool); return nil })
	err = g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = nil
	}
	log.Info("tagging service stopped")
	return err
}

// watchDatabase reports SERVING while the database answers. NATS is not part of readiness: the
// service takes writes while NATS is down (the outbox holds the events) and the projections catch
// up when it is back.
func watchDatabase(ctx context.Context, hs *health.Server, pool *pgxpool.Pool) {
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		status := grpc_health_v1.HealthCheckResponse_SERVING
		if err := pool.Ping(cctx); err != nil {
			status = grpc_health_v1.HealthCheckResponse_NOT_SERVING
		}
		cancel()
		hs.SetServingStatus("", status)
		hs.SetServingStatus(taggingv1.TaggingService_ServiceDesc.ServiceName, status)
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}
