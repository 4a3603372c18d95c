package gateway

import (
	"context"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	// The error details the services send (BadRequest, ErrorInfo, LocalizedMessage) travel as
	// google.protobuf.Any; protojson can only print an Any whose type is linked into the binary.
	_ "google.golang.org/genproto/googleapis/rpc/errdetails"
)

// newServeMux returns the grpc-gateway mux with the suite's JSON and header conventions.
func newServeMux() *runtime.ServeMux {
	marshaler := &runtime.HTTPBodyMarshaler{Marshaler: &runtime.JSONPb{
		// lowerCamelCase names (protojson's default) and no zero values: absent means unset.
		MarshalOptions: protojson.MarshalOptions{EmitUnpopulated: false},
		// Unknown fields are an error, so that a typo in a field name is not silently ignored.
		// protojson accepts both lowerCamelCase and the proto (snake_case) names on input.
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
	}}
	return runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, marshaler),
		runtime.WithIncomingHeaderMatcher(incomingHeader),
		// Response metadata stays inside: services talk to clients through messages and errors.
		runtime.WithOutgoingHeaderMatcher(dropHeader),
		runtime.WithOutgoingTrailerMatcher(dropHeader),
		runtime.WithForwardResponseOption(setETag),
		runtime.WithErrorHandler(errorHandler),
		runtime.WithMiddlewares(recordRoute),
	)
}

// incomingHeader forwards the headers the services read, under lower-case metadata keys, and
// nothing else (no cookies, no hop-by-hop headers). Authorization is absent on purpose:
// grpc-gateway always forwards it as "authorization" itself, and matching it here would send it
// twice.
func incomingHeader(key string) (string, bool) {
	switch textproto.CanonicalMIMEHeaderKey(key) {
	case "Accept-Language":
		return "accept-language", true
	case "X-Request-Id":
		return "x-request-id", true
	}
	return "", false
}

// dropHeader forwards no gRPC response metadata to HTTP clients.
func dropHeader(string) (string, bool) { return "", false }

// errorHandler is grpc-gateway's standard error handler (Status JSON {code, message, details},
// HTTP status from the gRPC code), except that a 401 challenges with "Bearer" instead of echoing
// the status message into WWW-Authenticate, where a Chinese message is not a valid header value.
func errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, challengeWriter{w}, r, err)
}

// challengeWriter rewrites WWW-Authenticate just before a 401 is sent.
type challengeWriter struct{ http.ResponseWriter }

func (c challengeWriter) WriteHeader(code int) {
	if code == http.StatusUnauthorized {
		c.Header().Set("WWW-Authenticate", `Bearer realm="crm"`)
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c challengeWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// setETag copies a response resource's etag field into the ETag header, so that HTTP caches and
// clients using If-Match semantics see it without parsing the body.
func setETag(_ context.Context, w http.ResponseWriter, m proto.Message) error {
	if m == nil {
		return nil
	}
	msg := m.ProtoReflect()
	fd := msg.Descriptor().Fields().ByName("etag")
	if fd == nil || fd.Kind() != protoreflect.StringKind || fd.IsList() {
		return nil
	}
	etag := msg.Get(fd).String()
	if etag == "" || strings.ContainsAny(etag, "\"\r\n") {
		return nil
	}
	w.Header().Set("ETag", `"`+etag+`"`)
	return nil
}

// recordRoute runs inside the runtime mux once a route has matched: it names the span and the
// access log line after the route template (/v1/customers/{customer_id=*}), never after the
// concrete path, to keep ids out of span names and cardinality low.
func recordRoute(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if pat, ok := runtime.HTTPPattern(r.Context()); ok {
			route := pat.String()
			if info := infoFrom(r.Context()); info != nil {
				info.route = route
			}
			span := trace.SpanFromContext(r.Context())
			span.SetName(r.Method + " " + route)
			span.SetAttributes(attribute.String("http.route", route))
		}
		next(w, r, params)
	}
}
