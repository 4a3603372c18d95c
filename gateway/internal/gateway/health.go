package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// healthz says the process is up. It checks nothing else, so that an orchestrator does not
// restart the gateway because a service behind it is down.
func (g *Gateway) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readiness is the body of /readyz.
type readiness struct {
	Status    string            `json:"status"`
	Upstreams map[string]string `json:"upstreams"`
	NotReady  []string          `json:"notReady,omitempty"`
}

// readyz is 200 only when every upstream's grpc.health.v1 Check answers SERVING within
// ReadyTimeout, else 503 naming the upstreams that are not ready and why (their serving status or
// the gRPC code of the failed check).
func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), g.cfg.ReadyTimeout)
	defer cancel()

	states := make([]string, len(g.conns))
	var wg sync.WaitGroup
	for i, c := range g.conns {
		wg.Go(func() {
			resp, err := healthpb.NewHealthClient(c.conn).Check(ctx, &healthpb.HealthCheckRequest{})
			switch {
			case err != nil && status.Code(err) == codes.Unimplemented:
				states[i] = "NO_HEALTH_SERVICE"
			case err != nil:
				states[i] = status.Code(err).String()
			default:
				states[i] = resp.GetStatus().String()
			}
		})
	}
	wg.Wait()

	body := readiness{Status: "ready", Upstreams: make(map[string]string, len(g.conns))}
	for i, c := range g.conns {
		body.Upstreams[c.name] = states[i]
		if states[i] != healthpb.HealthCheckResponse_SERVING.String() {
			body.NotReady = append(body.NotReady, c.name)
		}
	}
	code := http.StatusOK
	if len(body.NotReady) > 0 {
		body.Status, code = "not ready", http.StatusServiceUnavailable
	}
	writeJSON(w, code, body)
}

// openAPI serves the merged OpenAPI document of all services.
func (g *Gateway) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(g.cfg.OpenAPI)
}

// writeJSON writes v as a JSON response. v is always one of this package's plain types, so
// encoding cannot fail; a failed write means the client is gone.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
