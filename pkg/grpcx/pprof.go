package grpcx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// ServePprof serves Go's runtime profiles (net/http/pprof: /debug/pprof/profile, heap, goroutine,
// mutex, block, trace, …) on addr until ctx is done, for `go tool pprof` while measuring a
// running service (see docs/benchmarks.md). It is off unless asked for: with an empty addr it
// returns nil at once, so mains call it unconditionally with the PPROF_ADDR variable:
//
//	g.Go(func() error { return grpcx.ServePprof(gctx, config.String("PPROF_ADDR", ""), log) })
//
// Profiles expose internals and cost CPU while they run, so addr must be a loopback address
// (127.0.0.1:6060, [::1]:6060, localhost:6060); anything else is refused with an error, as is a
// port that cannot be listened on. The handlers are mounted on a mux of their own, never on
// http.DefaultServeMux, so nothing else a process registers is exposed with them.
func ServePprof(ctx context.Context, addr string, log *slog.Logger) error {
	if addr == "" {
		return nil
	}
	if log == nil {
		log = slog.Default()
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("grpcx: pprof address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("grpcx: pprof address %q: only loopback addresses are allowed", addr)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("grpcx: pprof: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// ReadHeaderTimeout only: a CPU profile or trace answers after its `seconds`, so no write timeout.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	log.InfoContext(ctx, "pprof listening", slog.String("addr", lis.Addr().String()))

	select {
	case err := <-served:
		return fmt.Errorf("grpcx: pprof: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	// A profile still being collected is cut off: profiling must never hold up a shutdown.
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("grpcx: pprof: %w", err)
	}
	return nil
}
