// Command gateway is the REST front of the CRM: it serves the services' HTTP/JSON bindings on
// GATEWAY_HTTP_ADDR and calls the services over gRPC. See internal/gateway for what it does.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/crmsuite/crm/gateway/internal/gateway"
	"github.com/crmsuite/crm/pkg/config"
	"github.com/crmsuite/crm/pkg/telemetry"
)

const (
	serviceName     = "gateway"
	shutdownTimeout = 15 * time.Second
)

func main() {
	config.SetGOGC()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

// run wires configuration, telemetry, the upstream connections and the HTTP server, serves until
// ctx is done, and cleans up in reverse order.
func run(ctx context.Context) (err error) {
	log := telemetry.Logger(serviceName)

	shutdownTelemetry, err := telemetry.Setup(ctx, serviceName, version())
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	defer func() {
		// Flush spans even though ctx is already cancelled, but not forever.
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		err = errors.Join(err, shutdownTelemetry(flushCtx))
	}()

	cfg, err := gateway.ConfigFromEnv()
	if err != nil {
		return err
	}
	addr := config.String("GATEWAY_HTTP_ADDR", "127.0.0.1:8080")

	gw, err := gateway.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, gw.Close()) }()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	attrs := []any{slog.String("addr", ln.Addr().String()), slog.Bool("dev_auth", gw.DevAuthEnabled()),
		slog.Any("cors_allowed_origins", cfg.CORSAllowedOrigins)}
	for _, u := range cfg.Upstreams {
		attrs = append(attrs, slog.String(u.Name, u.Addr))
	}
	log.Info("gateway listening", attrs...)
	if cfg.DevAuth && !gw.DevAuthEnabled() {
		log.Warn("DEV_AUTH is set but AUTH_HS256_SECRET is not: dev tokens are off")
	}

	if err := gw.Serve(ctx, ln, shutdownTimeout); err != nil {
		return err
	}
	log.Info("gateway stopped")
	return nil
}

// version is the module version stamped by the Go toolchain, "(devel)" for local builds.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
