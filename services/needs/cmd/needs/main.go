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
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/config"
	"github.com/crmsuite/crm/pkg/customerref"
	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/grpcx"
	"github.com/crmsuite/crm/pkg/outbox"
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/telemetry"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	needsv1 "github.com/crmsuite/crm/proto/gen/go/crm/needs/v1"
	"github.com/crmsuite/crm/services/needs/internal/server"
	"github.com/crmsuite/crm/services/needs/internal/store"
)

const (
	serviceName = "needs"
	version     = "dev"

	defaultGRPCAddr     = "127.0.0.1:9104"
	defaultCustomerAddr = "127.0.0.1:9101"
	// customersConsumer is the durable consumer of customer events that feeds the projection.
	customersConsumer = "needs-customers"

	// readinessEvery is how often health re-checks the database.
	readinessEvery = 5 * time.Second
	// shutdownTimeout bounds each clean-up step on the way out.
	shutdownTimeout = 10 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := telemetry.Logger(serviceName)
	if err := run(ctx, log, os.Args[1:]); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("needs service stopped", "error", err)
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

// serve runs the gRPC server, the outbox relay and the customer projection until ctx is done.
// Clean-ups run in reverse order of set-up (defers): the server, relay and consumer stop first,
// then the customer connection, NATS, the pool, telemetry.
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
	// The relay and the consumer have returned by now (errgroup waited), so nothing is in flight.
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}

	customerConn, err := grpcx.Dial(config.String("CUSTOMER_GRPC_ADDR", defaultCustomerAddr))
	if err != nil {
		return err
	}
	defer customerConn.Close()
	customers := customerref.New(pool, customerv1.NewCustomerServiceClient(customerConn), auth.SystemToken)

	st := store.New(pool, server.EventData)
	grpcServer, healthServer := grpcx.NewServer(grpcx.ServerConfig{Domain: server.Domain, Verifier: auth.Verifier,
		Policy: server.Policy, Logger: log})
	needsv1.RegisterNeedServiceServer(grpcServer, server.New(st, customers, log))
	setHealth(healthServer, healthpb.HealthCheckResponse_NOT_SERVING)

	replicas := config.Int("NATS_REPLICAS", 1)
	addr := config.String("NEEDS_GRPC_ADDR", defaultGRPCAddr)
	log.Info("needs service starting", "grpc_addr", addr, "nats_replicas", replicas)

	relay := outbox.NewRelay(pool, js, outbox.RelayConfig{Schema: store.Schema}, log)
	g, gctx := errgroup.WithContext(ctx)
	// On the way out, report NOT_SERVING before the server stops taking calls, so that load
	// balancers stop routing first.
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(gctx))
	defer stopServing()
	g.Go(func() error {
		<-gctx.Done()
		healthServer.Shutdown()
		stopServing()
		return nil
	})
	g.Go(func() error { return grpcx.Serve(serveCtx, grpcServer, addr, log) })
	// Writes do not wait for NATS: the relay keeps events in the outbox until the stream answers,
	// and the projection falls back to the customer service for customers it has not heard of.
	streamReady := make(chan struct{})
	g.Go(func() error {
		if err := events.EnsureStreamRetry(gctx, js, replicas, log); err != nil {
			return err
		}
		close(streamReady)
		return relay.Run(gctx)
	})
	g.Go(func() error {
		select {
		case <-gctx.Done():
			return nil
		case <-streamReady:
		}
		if err := customers.Consume(gctx, js, nc, customersConsumer, log); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("consume customer events: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		watchReadiness(gctx, healthServer, pool)
		return nil
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// A signal: a clean stop.
		err = nil
	}
	log.Info("needs service stopped")
	return err
}

// watchReadiness reports SERVING while the database answers, NOT_SERVING otherwise, until ctx is
// done. NATS is not part of readiness: the service takes writes while NATS is down (the outbox
// holds the events) and answers ownership questions from its projection or the customer service.
func watchReadiness(ctx context.Context, hs *health.Server, pool *pgxpool.Pool) {
	t := time.NewTicker(readinessEvery)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		status := healthpb.HealthCheckResponse_SERVING
		if err := pool.Ping(cctx); err != nil {
			status = healthpb.HealthCheckResponse_NOT_SERVING
		}
		cancel()
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

func setHealth(hs *health.Server, s healthpb.HealthCheckResponse_ServingStatus) {
	hs.SetServingStatus("", s)
	hs.SetServingStatus(needsv1.NeedService_ServiceDesc.ServiceName, s)
}
