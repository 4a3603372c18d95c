// Package grpcx owns gRPC server and client bootstrap for the CRM services:
// the interceptor chain (request logging, panic recovery, error mapping,
// authentication, authorisation), OpenTelemetry instrumentation, health and
// reflection, serving with graceful shutdown, and client connections that
// forward the caller's token.
//
// It wires pkg/apierr, pkg/authn and pkg/authz together and must not import
// service code, pgx or nats.
package grpcx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/crmsuite/crm/pkg/apierr"
	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/authz"
)

// ShutdownTimeout bounds GracefulStop in Serve; streams still open after it
// (health Watch, long server streams) are cut by Stop.
const ShutdownTimeout = 10 * time.Second

// ServerConfig configures NewServer.
type ServerConfig struct {
	// Domain is the ErrorInfo domain of the service, e.g. "customer.crm".
	Domain string
	// Verifier checks bearer tokens. When nil every non-public RPC is
	// refused with UNAUTHENTICATED.
	Verifier *authn.Verifier
	// Policy grants scopes per RPC; methods it does not list are denied.
	Policy authz.Policy
	// Logger receives request logs, recovered panics and unexpected errors;
	// slog.Default when nil.
	Logger *slog.Logger
}

// streamWorkers is how many goroutines the server keeps to handle RPCs. By default gRPC starts a
// goroutine per RPC, whose stack then grows, by copying, to the depth of the handler (interceptors,
// pgx, logging): 10 % of the customer service's CPU under gets (runtime.newstack,
// docs/benchmarks.md). Workers keep their grown stacks from one RPC to the next; when all are
// busy, an RPC gets its own goroutine as before. 64 covers the RPCs a service has in flight on
// its pool of database connections with room to spare, at a few MB of idle stacks.
const streamWorkers = 64

// Flow-control windows of every CRM connection, server and client side (Dial), fixed instead of
// gRPC's default of 64 KiB grown by bandwidth-delay estimation. The estimator sends an HTTP/2
// PING on data received while none is outstanding, so with requests one after another nearly every
// RPC cost a ping and its ack: 3.8 socket writes per unary call on loopback against 2.0 with fixed
// windows (strace -c of 5,000 health checks), each write and the wake-up it causes being tens of µs
// of CPU on the machines we run on. The estimator exists to fill long fat links; between services
// in one cluster 1 MiB per stream (an export's chunks stream at 1 MiB per round trip) and 4 MiB
// per connection are plenty.
const (
	streamWindow = 1 << 20
	connWindow   = 4 << 20
)

// NewServer builds a gRPC server with the otelgrpc stats handler (traces and
// RED metrics per RPC) and, from outermost to innermost, these interceptors:
//
//  1. request logging: method, code, duration, trace id; never payloads;
//  2. panic recovery: INTERNAL, logged with the stack;
//  3. apierr mapping: every error below becomes a status with ErrorInfo and
//     a LocalizedMessage;
//  4. authn: verifies the bearer token (health and reflection are public);
//  5. authz: enforces cfg.Policy and puts the granted scope in the context.
//
// Because recovery and logging sit outside the mapper, authn/authz failures
// and recovered panics all reach the client as proper statuses and are
// logged with their final code. It registers grpc.health.v1, whose server is
// returned so that the caller can flip serving status, and server
// reflection.
func NewServer(cfg ServerConfig) (*grpc.Server, *health.Server) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	srv := grpc.NewServer(
		grpc.StatsHandler(otelgrpc.NewServerHandler()),
		grpc.NumStreamWorkers(streamWorkers),
		grpc.InitialWindowSize(streamWindow),
		grpc.InitialConnWindowSize(connWindow),
		grpc.ChainUnaryInterceptor(
			logUnary(log),
			recoverUnary(cfg.Domain, log),
			apierr.UnaryServerInterceptor(cfg.Domain, log),
			authn.UnaryServerInterceptor(cfg.Verifier),
			authz.UnaryServerInterceptor(cfg.Policy),
		),
		grpc.ChainStreamInterceptor(
			logStream(log),
			recoverStream(cfg.Domain, log),
			apierr.StreamServerInterceptor(cfg.Domain, log),
			authn.StreamServerInterceptor(cfg.Verifier),
			authz.StreamServerInterceptor(cfg.Policy),
		),
	)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv)
	return srv, hs
}

// Serve listens on addr (for example ":8081") and serves srv until ctx is
// done, then stops gracefully (see ServeListener).
func Serve(ctx context.Context, srv *grpc.Server, addr string, log *slog.Logger) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("grpcx: listen on %s: %w", addr, err)
	}
	return ServeListener(ctx, srv, lis, log)
}

// ServeListener serves srv on lis until ctx is done, then calls GracefulStop
// and, if RPCs are still running after ShutdownTimeout, Stop. It returns nil
// after a shutdown asked for by ctx, and the error when serving fails. Set
// the health status to NOT_SERVING (health.Server.Shutdown) before ctx ends,
// so that load balancers stop routing first.
func ServeListener(ctx context.Context, srv *grpc.Server, lis net.Listener, log *slog.Logger) error {
	return serveListener(ctx, srv, lis, log, ShutdownTimeout)
}

func serveListener(ctx context.Context, srv *grpc.Server, lis net.Listener, log *slog.Logger, timeout time.Duration) error {
	if log == nil {
		log = slog.Default()
	}
	log.InfoContext(ctx, "grpc server listening", slog.String("addr", lis.Addr().String()))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()

	select {
	case err := <-served:
		return fmt.Errorf("grpcx: serve: %w", err)
	case <-ctx.Done():
	}

	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		log.Warn("grpc graceful stop timed out, closing open RPCs", slog.Duration("timeout", timeout))
		srv.Stop()
		<-stopped
	}
	if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("grpcx: serve: %w", err)
	}
	log.Info("grpc server stopped")
	return nil
}

// logUnary logs one line per RPC with its final code and duration.
func logUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		logRPC(ctx, log, info.FullMethod, err, time.Since(start))
		return resp, err
	}
}

func logStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := time.Now()
		err := handler(srv, ss)
		logRPC(ss.Context(), log, info.FullMethod, err, time.Since(start))
		return err
	}
}

// logRPC writes the request log line. The trace ids are added here rather
// than left to the handler, so that any logger given to NewServer has them.
func logRPC(ctx context.Context, log *slog.Logger, method string, err error, d time.Duration) {
	code := status.Code(err)
	level := levelFor(method, code)
	if !log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("code", code.String()),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	log.LogAttrs(ctx, level, "rpc", attrs...)
}

// levelFor keeps health probes out of the info log and raises server-side
// failures above client mistakes.
func levelFor(method string, code codes.Code) slog.Level {
	switch {
	case strings.HasPrefix(method, "/grpc.health.v1."):
		return slog.LevelDebug
	case code == codes.Internal || code == codes.Unknown || code == codes.DataLoss:
		return slog.LevelError
	case code == codes.Unavailable || code == codes.DeadlineExceeded || code == codes.ResourceExhausted:
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// recoverUnary turns a panic in the layers below into INTERNAL. The panic
// value and stack are logged once; the request is not.
func recoverUnary(domain string, log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				resp, err = nil, recovered(ctx, domain, log, info.FullMethod, r)
			}
		}()
		return handler(ctx, req)
	}
}

func recoverStream(domain string, log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = recovered(ss.Context(), domain, log, info.FullMethod, r)
			}
		}()
		return handler(srv, ss)
	}
}

func recovered(ctx context.Context, domain string, log *slog.Logger, method string, r any) error {
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("panic", fmt.Sprint(r)),
		slog.String("stack", string(debug.Stack())),
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
	}
	log.LogAttrs(ctx, slog.LevelError, "panic recovered", attrs...)
	return apierr.Status(ctx, domain, apierr.Internal(ctx)).Err()
}
