// Package gateway is the REST front of the CRM: a thin adapter that dials every service over gRPC
// and registers the generated grpc-gateway handlers on that connection, plus the few HTTP-only
// concerns around them: request ids, CORS, body limits, access logs, tracing, /healthz, /readyz,
// /openapi.json and, for local use, dev tokens.
//
// It owns no business rules and verifies no tokens: the Authorization header is passed through and
// each service authenticates and authorises the call itself. It must not import service modules
// or use the in-process Register<Service>HandlerServer, which would bypass the services'
// interceptors.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"google.golang.org/grpc"

	apidoc "github.com/crmsuite/crm/gateway"
	"github.com/crmsuite/crm/pkg/config"
	"github.com/crmsuite/crm/pkg/grpcx"
)

// Defaults of the limits in Config.
const (
	DefaultMaxBodyBytes   = 1 << 20 // 1 MiB: plenty for JSON; uploads will get their own route.
	DefaultRequestTimeout = 30 * time.Second
	DefaultReadyTimeout   = 2 * time.Second
)

// errorDomain is the ErrorInfo domain of errors the gateway itself produces.
const errorDomain = "gateway.crm"

// Config is what the gateway needs to run. ConfigFromEnv fills it from the environment.
type Config struct {
	// Upstreams are the services to dial, with their addresses.
	Upstreams []Upstream
	// CORSAllowedOrigins are the browser origins allowed to call the API; "*" allows any.
	// Empty means no cross-origin access.
	CORSAllowedOrigins []string
	// DevAuth enables POST /v1/auth/dev-token, which mints HS256 tokens for any user. Local use
	// only; it also needs AuthSecret.
	DevAuth bool
	// AuthSecret is the HS256 secret the services verify tokens with (dev tokens only).
	AuthSecret string
	// AuthIssuer and AuthAudience go into dev tokens' iss and aud claims.
	AuthIssuer, AuthAudience string
	// MaxBodyBytes limits request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxUploadBytes limits import files (POST /v1/customers:import); 0 means DefaultMaxUploadBytes.
	MaxUploadBytes int64
	// RequestTimeout bounds every proxied call; 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// ReadyTimeout bounds the health checks behind /readyz; 0 means DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// OpenAPI is the document served at /openapi.json; nil means the embedded one.
	OpenAPI []byte
}

// UpstreamOff as a service's address variable (CUSTOMER_GRPC_ADDR=off) leaves that service out:
// its routes answer 404 and /readyz does not wait for it. For running a subset of the suite.
const UpstreamOff = "off"

// ConfigFromEnv reads the configuration from the environment: <SERVICE>_GRPC_ADDR for each of
// Upstreams() (or UpstreamOff), CORS_ALLOWED_ORIGINS, DEV_AUTH, AUTH_HS256_SECRET, AUTH_ISSUER,
// AUTH_AUDIENCE and the optional GATEWAY_MAX_BODY_BYTES, GATEWAY_MAX_UPLOAD_BYTES,
// GATEWAY_REQUEST_TIMEOUT and GATEWAY_READY_TIMEOUT. Like every binary of the suite it refuses to
// start without AUTH_HS256_SECRET or AUTH_JWKS_URL, although the gateway itself verifies nothing: a
// gateway without either points at a misconfigured deployment.
func ConfigFromEnv() (Config, error) {
	secret := config.String("AUTH_HS256_SECRET", "")
	if secret == "" && config.String("AUTH_JWKS_URL", "") == "" {
		return Config{}, errors.New("config: set AUTH_HS256_SECRET (local) or AUTH_JWKS_URL (OIDC)")
	}
	var ups []Upstream
	for _, u := range Upstreams() {
		u.Addr = config.String(u.AddrEnv, u.Addr)
		if u.Addr != UpstreamOff {
			ups = append(ups, u)
		}
	}
	return Config{
		Upstreams:          ups,
		CORSAllowedOrigins: splitList(config.String("CORS_ALLOWED_ORIGINS", "")),
		DevAuth:            config.Bool("DEV_AUTH", false),
		AuthSecret:         secret,
		AuthIssuer:         config.String("AUTH_ISSUER", "crm-dev"),
		AuthAudience:       config.String("AUTH_AUDIENCE", "crm"),
		MaxBodyBytes:       int64(config.Int("GATEWAY_MAX_BODY_BYTES", DefaultMaxBodyBytes)),
		MaxUploadBytes:     int64(config.Int("GATEWAY_MAX_UPLOAD_BYTES", DefaultMaxUploadBytes)),
		RequestTimeout:     config.Duration("GATEWAY_REQUEST_TIMEOUT", DefaultRequestTimeout),
		ReadyTimeout:       config.Duration("GATEWAY_READY_TIMEOUT", DefaultReadyTimeout),
	}, nil
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// Gateway is the assembled HTTP front. Create it with New, serve Handler (or call Serve), and
// Close it to release the upstream connections.
type Gateway struct {
	cfg     Config
	log     *slog.Logger
	mux     *runtime.ServeMux
	conns   []upstreamConn
	handler http.Handler
}

// upstreamConn is a dialled upstream.
type upstreamConn struct {
	name string
	conn *grpc.ClientConn
}

// New dials every upstream (lazily: a service that is down makes its calls fail with 503 and
// /readyz report it, it does not stop the gateway) and registers its REST handlers.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Gateway, error) {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if cfg.OpenAPI == nil {
		cfg.OpenAPI = apidoc.OpenAPI()
	}
	g := &Gateway{cfg: cfg, log: log, mux: newServeMux()}
	for _, u := range cfg.Upstreams {
		conn, err := grpcx.Dial(u.Addr)
		if err != nil {
			_ = g.Close()
			return nil, fmt.Errorf("dial %s at %s: %w", u.Name, u.Addr, err)
		}
		g.conns = append(g.conns, upstreamConn{name: u.Name, conn: conn})
		if err := u.Register(ctx, g.mux, conn); err != nil {
			_ = g.Close()
			return nil, fmt.Errorf("register %s handlers: %w", u.Name, err)
		}
	}
	if err := g.registerTransfer(ctx); err != nil {
		_ = g.Close()
		return nil, fmt.Errorf("register customer transfer handlers: %w", err)
	}
	g.handler = g.buildHandler()
	return g, nil
}

// DevAuthEnabled reports whether POST /v1/auth/dev-token is served.
func (g *Gateway) DevAuthEnabled() bool { return g.cfg.DevAuth && g.cfg.AuthSecret != "" }

// buildHandler assembles the routes and the middleware around them, outermost first: tracing,
// request id, access log, CORS, body limit and timeout, then the routes.
func (g *Gateway) buildHandler() http.Handler {
	routes := http.NewServeMux()
	handle := func(pattern, route string, h http.HandlerFunc) {
		routes.Handle(pattern, withRoute(route, h))
	}
	handle("GET /healthz", "/healthz", g.healthz)
	handle("GET /readyz", "/readyz", g.readyz)
	handle("GET /openapi.json", "/openapi.json", g.openAPI)
	if g.DevAuthEnabled() {
		handle("POST "+devTokenPath, devTokenPath, g.devToken)
	}
	// Everything else belongs to the services; the runtime mux records the matched route itself.
	routes.Handle("/", g.mux)

	var h http.Handler = routes
	h = g.limits(h)
	// File uploads and downloads bypass the JSON routes' body limit and timeout (transfer.go).
	h = g.transferRoutes(h)
	h = newCORS(g.cfg.CORSAllowedOrigins).wrap(h)
	h = g.accessLog(h)
	h = requestID(h)
	return otelhttp.NewHandler(h, "gateway",
		otelhttp.WithFilter(func(r *http.Request) bool { return !isProbe(r.URL.Path) }),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "HTTP " + r.Method }),
	)
}

// Handler returns the gateway's HTTP handler.
func (g *Gateway) Handler() http.Handler { return g.handler }

// Close closes the upstream connections.
func (g *Gateway) Close() error {
	var errs []error
	for _, c := range g.conns {
		if err := c.conn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s connection: %w", c.name, err))
		}
	}
	g.conns = nil
	return errors.Join(errs...)
}

// Serve serves the gateway on ln until ctx is done, then shuts down gracefully: it stops
// accepting, lets requests in flight finish for up to shutdownTimeout and then closes the rest.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener, shutdownTimeout time.Duration) error {
	srv := &http.Server{
		Handler:           g.handler,
		ReadHeaderTimeout: 10 * time.Second,
		// Bodies are small (MaxBodyBytes); a slow client must not hold a connection for long.
		ReadTimeout: 30 * time.Second,
		// Longer than RequestTimeout so that a timed-out call still gets its error written.
		WriteTimeout:   g.cfg.RequestTimeout + 10*time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		BaseContext:    func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutCtx)
	if err != nil {
		err = errors.Join(fmt.Errorf("graceful shutdown: %w", err), srv.Close())
	}
	if serveErr := <-done; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("serve http: %w", serveErr))
	}
	return err
}
