package telemetry

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// Logger returns the process logger: JSON when LOG_FORMAT=json, text
// otherwise; level from LOG_LEVEL (debug, info, warn, error; info when unset
// or unreadable); every record carries service=<service> and, when its
// context holds a span, trace_id and span_id. It writes to standard error.
func Logger(service string) *slog.Logger {
	return newLogger(os.Stderr, service, os.Getenv("LOG_FORMAT"), os.Getenv("LOG_LEVEL"))
}

func newLogger(w io.Writer, service, format, level string) *slog.Logger {
	var lvl slog.Level // info
	if err := lvl.UnmarshalText([]byte(strings.TrimSpace(level))); err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	if strings.EqualFold(strings.TrimSpace(format), "json") {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(NewTraceHandler(h)).With(slog.String("service", service))
}

// TraceHandler is a slog.Handler that adds trace_id and span_id from the
// record's context before passing it on, so that a log line can be joined
// with its trace. Use the *Context logging methods (InfoContext, …) to give
// it the context.
//
// The ids are added to the record, so under WithGroup they land inside the
// group.
type TraceHandler struct {
	next slog.Handler
}

// NewTraceHandler wraps next.
func NewTraceHandler(next slog.Handler) *TraceHandler {
	return &TraceHandler{next: next}
}

// Enabled reports whether next handles records at level l.
func (h *TraceHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

// Handle adds the trace ids, unless the record already has a trace_id (as
// apierr's log line for unexpected errors does), and passes the record on.
func (h *TraceHandler) Handle(ctx context.Context, r slog.Record) error {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() || hasAttr(r, "trace_id") {
		return h.next.Handle(ctx, r)
	}
	// Clone: the record's attribute storage may be shared with other handlers.
	r = r.Clone()
	r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	return h.next.Handle(ctx, r)
}

// WithAttrs returns a TraceHandler around next.WithAttrs.
func (h *TraceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &TraceHandler{next: h.next.WithAttrs(as)}
}

// WithGroup returns a TraceHandler around next.WithGroup.
func (h *TraceHandler) WithGroup(name string) slog.Handler {
	return &TraceHandler{next: h.next.WithGroup(name)}
}

func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}
