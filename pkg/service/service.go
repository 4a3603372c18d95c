// Package service runs one CRM service process, the same way for every service: configuration
// from the environment, telemetry, the database and its migrations, NATS JetStream, the gRPC
// server with health, the outbox relay, the service's event consumers, and a shutdown that
// reports NOT_SERVING first and cleans up in reverse order.
//
// A service's main describes itself in a Spec and calls Main. The package must not import any
// service's code.
package service

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
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/authz"
	"github.com/crmsuite/crm/pkg/config"
	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/grpcx"
	"github.com/crmsuite/crm/pkg/outbox"
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/telemetry"
)

// Spec describes one service.
type Spec struct {
	// Name is the service's short name ("followup"); logs, NATS connection and system tokens use it.
	Name string
	// Schema is the PostgreSQL schema the service owns.
	Schema string
	// Migrate applies the service's migrations (its own and those of the packages it uses).
	Migrate func(ctx context.Context, pool *pgxpool.Pool) error
	// AddrEnv and DefaultAddr say where the gRPC server listens (FOLLOWUP_GRPC_ADDR, 127.0.0.1:9103).
	AddrEnv, DefaultAddr string
	// Domain is the error domain (google.rpc.ErrorInfo), e.g. "followup.crm".
	Domain string
	// Policy is the service's permission table.
	Policy authz.Policy
	// Setup registers the service's gRPC handlers on d.Server and returns the background tasks
	// (event consumers, job workers) to run once the event stream exists; each runs until its
	// context ends.
	Setup func(ctx context.Context, d *Deps) ([]func(ctx context.Context) error, error)
	// Ready, when set, decides readiness; by default a service is ready while its database
	// answers. NATS is not part of the default: writes go on while NATS is down, the outbox holds
	// the events.
	Ready func(ctx context.Context, d *Deps) bool
	// NoOutbox leaves out the outbox relay, for a service that publishes nothing (audit).
	NoOutbox bool
}

// Deps are what Setup may use. Everything in it is closed by Main on the way out.
type Deps struct {
	Pool   *pgxpool.Pool
	NC     *nats.Conn
	JS     jetstream.JetStream
	Auth   *authn.Auth
	Server *grpc.Server
	Log    *slog.Logger
	conns  []*grpc.ClientConn
}

// Dial connects to another service whose address is in the environment variable env.
func (d *Deps) Dial(env, def string) (*grpc.ClientConn, error) {
	conn, err := grpcx.Dial(config.String(env, def))
	if err != nil {
		return nil, err
	}
	d.conns = append(d.conns, conn)
	return conn, nil
}

const (
	readinessEvery  = 5 * time.Second
	shutdownTimeout = 10 * time.Second
)

// Main runs the service until SIGINT or SIGTERM and exits non-zero on failure. The first argument
// may be `serve` (the default) or `migrate` (apply the migrations and exit).
func Main(spec Spec) {
	config.SetGOGC()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	log := telemetry.Logger(spec.Name)
	err := run(ctx, spec, log, os.Args[1:])
	stop()
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error(spec.Name+" service stopped", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, spec Spec, log *slog.Logger, args []string) error {
	switch {
	case len(args) == 0 || args[0] == "serve":
		return serve(ctx, spec, log)
	case args[0] == "migrate":
		pool, err := pgdb.Connect(ctx, config.String("DATABASE_URL", config.DefaultDatabaseURL), spec.Schema)
		if err != nil {
			return err
		}
		defer pool.Close()
		if err := spec.Migrate(ctx, pool); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		log.Info("migrations applied", "schema", spec.Schema)
		return nil
	default:
		return fmt.Errorf("unknown command %q (want serve or migrate)", args[0])
	}
}

// serve wires everything and runs until ctx is done. Clean-ups are deferred, so they run in
// reverse order of set-up once the server, relay and consumers have returned.
func serve(ctx context.Context, spec Spec, log *slog.Logger) error {
	// Refuse to start without a way to verify tokens, before touching anything else.
	auth, err := authn.FromEnv(ctx, spec.Name)
	if err != nil {
		return err
	}
	shutdownTelemetry, err := telemetry.Setup(ctx, spec.Name, "dev")
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

	// The relay learns of this process's commits from the pool's tracer.
	commits := outbox.NewCommits()
	pool, err := pgdb.Connect(ctx, config.String("DATABASE_URL", config.DefaultDatabaseURL), spec.Schema, commits)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := spec.Migrate(ctx, pool); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	// The relay has a connection of its own: behind a full pool its rounds, and so every event,
	// would wait for the requests queued before them.
	var relayPool *pgxpool.Pool
	if !spec.NoOutbox {
		relayPool, err = pgdb.ConnectOne(ctx, config.String("DATABASE_URL", config.DefaultDatabaseURL), spec.Schema, spec.Schema+"-relay")
		if err != nil {
			return err
		}
		defer relayPool.Close()
	}

	nc, err := events.Connect(config.String("NATS_URL", config.DefaultNATSURL), spec.Name, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}

	srv, hs := grpcx.NewServer(grpcx.ServerConfig{Domain: spec.Domain, Verifier: auth.Verifier, Policy: spec.Policy, Logger: log})
	d := &Deps{Pool: pool, NC: nc, JS: js, Auth: auth, Server: srv, Log: log}
	defer func() {
		for _, c := range d.conns {
			_ = c.Close()
		}
	}()
	consumers, err := spec.Setup(ctx, d)
	if err != nil {
		return err
	}
	if missing := spec.Policy.Uncovered(srv.GetServiceInfo()); len(missing) > 0 {
		return fmt.Errorf("RPCs without a permission (denied to everyone): %v", missing)
	}
	setHealth(hs, srv, healthpb.HealthCheckResponse_NOT_SERVING)

	replicas := config.Int("NATS_REPLICAS", 1)
	addr := config.String(spec.AddrEnv, spec.DefaultAddr)
	log.Info(spec.Name+" service starting", "grpc_addr", addr, "nats_replicas", replicas)

	g, gctx := errgroup.WithContext(ctx)
	// On the way out, report NOT_SERVING before the server stops taking calls, so that load
	// balancers stop routing first.
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(gctx))
	defer stopServing()
	g.Go(func() error {
		<-gctx.Done()
		hs.Shutdown()
		stopServing()
		return nil
	})
	g.Go(func() error { return grpcx.Serve(serveCtx, srv, addr, log) })
	// Nothing waits for NATS to start: the relay and the consumers begin once the stream exists.
	streamReady := make(chan struct{})
	g.Go(func() error {
		if err := events.EnsureStreamRetry(gctx, js, replicas, log); err != nil {
			return err
		}
		close(streamReady)
		if spec.NoOutbox {
			return nil
		}
		return outbox.NewRelay(relayPool, js, outbox.RelayConfig{Schema: spec.Schema, Commits: commits}, log).Run(gctx)
	})
	for _, consume := range consumers {
		g.Go(func() error {
			select {
			case <-streamReady:
			case <-gctx.Done():
				return gctx.Err()
			}
			if err := consume(gctx); err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("consume events: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error {
		watchReadiness(gctx, spec, d, hs)
		return nil
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = nil // a signal: a clean stop
	}
	log.Info(spec.Name + " service stopped")
	return err
}

// watchReadiness keeps the health status current until ctx is done; it checks again soon while
// not ready, so start-up is quick to report.
func watchReadiness(ctx context.Context, spec Spec, d *Deps, hs *health.Server) {
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		var ready bool
		if spec.Ready != nil {
			ready = spec.Ready(cctx, d)
		} else {
			ready = d.Pool.Ping(cctx) == nil
		}
		cancel()
		status, wait := healthpb.HealthCheckResponse_SERVING, readinessEvery
		if !ready {
			status, wait = healthpb.HealthCheckResponse_NOT_SERVING, 250*time.Millisecond
		}
		setHealth(hs, d.Server, status)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// setHealth sets the overall status and that of every registered service.
func setHealth(hs *health.Server, srv *grpc.Server, s healthpb.HealthCheckResponse_ServingStatus) {
	hs.SetServingStatus("", s)
	for name := range srv.GetServiceInfo() {
		hs.SetServingStatus(name, s)
	}
}
