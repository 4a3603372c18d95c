package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"

	"github.com/crmsuite/crm/pkg/apierr"
)

// requestInfo is what the outer middleware learns about a request on its way through the inner
// layers. One request is handled by one goroutine, so plain fields suffice.
type requestInfo struct {
	id    string
	route string
}

type infoKey struct{}

// infoFrom returns the request's info, or nil outside the gateway's handler.
func infoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(infoKey{}).(*requestInfo)
	return info
}

// RequestIDHeader carries the request id in both directions and, as "x-request-id", to the
// services.
const RequestIDHeader = "X-Request-Id"

// requestID keeps the client's X-Request-Id when it is a sane token and otherwise makes one (a
// UUIDv7, so ids sort by time), then sets it on the request (for the services) and the response.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = newRequestID()
		}
		r.Header.Set(RequestIDHeader, id)
		w.Header().Set(RequestIDHeader, id)
		ctx := context.WithValue(r.Context(), infoKey{}, &requestInfo{id: id})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// validRequestID accepts 1–64 characters of [A-Za-z0-9._-]: enough for UUIDs and most tracing
// ids, and nothing that could forge log lines or headers.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

func newRequestID() string {
	if id, err := uuid.NewV7(); err == nil {
		return id.String()
	}
	// NewV7 fails only when the random source does; a v4 id is as good for correlation.
	return uuid.NewString()
}

// withRoute names the route of a handler outside the runtime mux for the access log.
func withRoute(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info := infoFrom(r.Context()); info != nil {
			info.route = route
		}
		h.ServeHTTP(w, r)
	})
}

// isProbe reports whether path is a health probe, which is neither traced nor logged at info
// level: orchestrators call them every few seconds.
func isProbe(path string) bool { return path == "/healthz" || path == "/readyz" }

// accessLog writes one line per request: method, route template (never the query string, which
// may hold names or mobile numbers), status, duration, request id and trace id. No bodies.
func (g *Gateway) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)

		info := infoFrom(r.Context())
		route, id := "unmatched", ""
		if info != nil {
			id = info.id
			if info.route != "" {
				route = info.route
			}
		}
		if r.Method == http.MethodOptions && route == "unmatched" {
			route = "preflight"
		}
		level := slog.LevelInfo
		if isProbe(r.URL.Path) {
			level = slog.LevelDebug
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.Int("status", rec.status),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.String("request_id", id),
		}
		if sc := trace.SpanContextFromContext(r.Context()); sc.IsValid() {
			attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
		}
		g.log.LogAttrs(r.Context(), level, "http request", attrs...)
	})
}

// statusRecorder remembers the status code written through it.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

// Flush keeps streaming responses working through the recorder.
func (s *statusRecorder) Flush() {
	s.wroteHeader = true
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// msgBodyTooLarge is the message of a 413.
var msgBodyTooLarge = apierr.Message{ZH: "请求体过大", EN: "request body too large"}

// limits caps the request body at MaxBodyBytes (413 at once when Content-Length says so; a
// chunked body that runs over fails its decoding with 400) and bounds each request's context by
// RequestTimeout, which the gRPC calls to the services inherit as their deadline.
func (g *Gateway) limits(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > g.cfg.MaxBodyBytes {
			g.writeError(w, r, http.StatusRequestEntityTooLarge,
				apierr.New(codes.InvalidArgument, "REQUEST_TOO_LARGE", msgBodyTooLarge))
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, g.cfg.MaxBodyBytes)
		}
		ctx, cancel := context.WithTimeout(r.Context(), g.cfg.RequestTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
