package apierr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/crmsuite/crm/pkg/validate"
)

var (
	msgInternal  = Message{ZH: "服务内部错误", EN: "internal error"}
	msgCancelled = Message{ZH: "请求已取消", EN: "request cancelled"}
	msgDeadline  = Message{ZH: "请求超时", EN: "request timed out"}
)

// Status converts any error into a *status.Status for the service's domain
// (for example "customer.crm"), in the language chosen by Lang(ctx):
//
//   - *Error (also wrapped): its code, ErrorInfo{Reason, Domain, Metadata},
//     LocalizedMessage, BadRequest when it has violations, then its Details;
//   - *validate.Error: INVALID_ARGUMENT, reason INVALID_ARGUMENT, one
//     BadRequest field violation per violation and a LocalizedMessage
//     summarising the failing fields;
//   - an error carrying a gRPC status (for example from a downstream call):
//     that status, unchanged;
//   - context.Canceled and context.DeadlineExceeded: CANCELLED and
//     DEADLINE_EXCEEDED;
//   - anything else: INTERNAL with generic text and reason INTERNAL; the
//     cause is logged once on slog.Default with the trace id, and the trace
//     id is put in the ErrorInfo metadata so that a report can be matched to
//     the log line.
//
// A nil error gives an OK status.
func Status(ctx context.Context, domain string, err error) *status.Status {
	return convert(ctx, domain, err, slog.Default())
}

// convert is Status with the logger used for unexpected errors.
func convert(ctx context.Context, domain string, err error, log *slog.Logger) *status.Status {
	if err == nil {
		return status.New(codes.OK, "")
	}
	lang := Lang(ctx)

	var apiErr *Error
	if errors.As(err, &apiErr) && apiErr.Code != codes.OK {
		details := make([]proto.Message, 0, len(apiErr.Details)+1)
		if len(apiErr.Violations) > 0 {
			details = append(details, badRequest(apiErr.Violations, lang))
		}
		details = append(details, apiErr.Details...)
		return build(ctx, apiErr.Code, apiErr.Reason, domain, apiErr.Metadata, apiErr.Message, lang, log, details...)
	}

	var valErr *validate.Error
	if errors.As(err, &valErr) {
		return build(ctx, codes.InvalidArgument, ReasonInvalidArgument, domain, nil,
			summary(valErr.Violations), lang, log, badRequest(valErr.Violations, lang))
	}

	// Look for the status itself rather than status.FromError, whose message
	// for a wrapped status would carry our internal wrapping text.
	var grpcErr interface{ GRPCStatus() *status.Status }
	if errors.As(err, &grpcErr) {
		if s := grpcErr.GRPCStatus(); s != nil {
			return s
		}
	}

	switch {
	case errors.Is(err, context.Canceled):
		return build(ctx, codes.Canceled, ReasonCancelled, domain, nil, msgCancelled, lang, log)
	case errors.Is(err, context.DeadlineExceeded):
		return build(ctx, codes.DeadlineExceeded, ReasonDeadlineExceeded, domain, nil, msgDeadline, lang, log)
	}

	attrs := []slog.Attr{slog.String("domain", domain), slog.String("error", err.Error())}
	if m, ok := grpc.Method(ctx); ok {
		attrs = append(attrs, slog.String("method", m))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
	}
	log.LogAttrs(ctx, slog.LevelError, "unexpected error", attrs...)
	in := Internal(ctx)
	return build(ctx, in.Code, in.Reason, domain, in.Metadata, in.Message, lang, log)
}

// Internal returns the generic INTERNAL error sent for unexpected failures,
// with the trace id (when ctx has a span) in its metadata so that a user's
// report can be matched to the log line. The caller logs the cause; for
// example the panic recovery in pkg/grpcx.
func Internal(ctx context.Context) *Error {
	e := New(codes.Internal, ReasonInternal, msgInternal)
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		e = e.With("trace_id", sc.TraceID().String())
	}
	return e
}

// build assembles a status: ErrorInfo first (AIP-193 requires it), then the
// LocalizedMessage, then extra details.
func build(ctx context.Context, code codes.Code, reason, domain string, md map[string]string,
	msg Message, lang string, log *slog.Logger, extra ...proto.Message) *status.Status {
	localized := text(msg, lang)
	details := make([]proto.Message, 0, len(extra)+2)
	details = append(details,
		&errdetails.ErrorInfo{Reason: reason, Domain: domain, Metadata: md},
		&errdetails.LocalizedMessage{Locale: lang, Message: localized},
	)
	details = append(details, extra...)

	p := &spb.Status{Code: int32(code), Message: localized}
	for _, d := range details {
		if d == nil {
			continue
		}
		a, err := anypb.New(d)
		if err != nil {
			// A detail that cannot be marshalled is dropped rather than
			// turning a meaningful error into INTERNAL.
			log.LogAttrs(ctx, slog.LevelError, "drop error detail",
				slog.String("detail", string(proto.MessageName(d))), slog.String("error", err.Error()))
			continue
		}
		p.Details = append(p.Details, a)
	}
	return status.FromProto(p)
}

// badRequest builds one field violation per validation violation.
func badRequest(vs []validate.Violation, lang string) *errdetails.BadRequest {
	br := &errdetails.BadRequest{FieldViolations: make([]*errdetails.BadRequest_FieldViolation, 0, len(vs))}
	for _, v := range vs {
		t := text(v.Message, lang)
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
			Field:            v.Field,
			Description:      t,
			Reason:           v.Reason,
			LocalizedMessage: &errdetails.LocalizedMessage{Locale: lang, Message: t},
		})
	}
	return br
}

// summary names the failing fields once each, in order of first appearance:
// "2 个字段有误：name、mobile" / "2 fields are invalid: name, mobile".
func summary(vs []validate.Violation) Message {
	var fields []string
	seen := make(map[string]bool, len(vs))
	for _, v := range vs {
		if v.Field == "" || seen[v.Field] {
			continue
		}
		seen[v.Field] = true
		fields = append(fields, v.Field)
	}
	switch len(fields) {
	case 0:
		return Message{ZH: "请求参数有误", EN: "the request is invalid"}
	case 1:
		return Message{
			ZH: fmt.Sprintf("1 个字段有误：%s", fields[0]),
			EN: fmt.Sprintf("1 field is invalid: %s", fields[0]),
		}
	default:
		return Message{
			ZH: fmt.Sprintf("%d 个字段有误：%s", len(fields), strings.Join(fields, "、")),
			EN: fmt.Sprintf("%d fields are invalid: %s", len(fields), strings.Join(fields, ", ")),
		}
	}
}

// UnaryServerInterceptor converts every handler error with Status, logging
// unexpected errors on log (slog.Default when nil).
func UnaryServerInterceptor(domain string, log *slog.Logger) grpc.UnaryServerInterceptor {
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err != nil {
			return nil, convert(ctx, domain, err, log).Err()
		}
		return resp, nil
	}
}

// StreamServerInterceptor converts every stream handler error with Status,
// logging unexpected errors on log (slog.Default when nil).
func StreamServerInterceptor(domain string, log *slog.Logger) grpc.StreamServerInterceptor {
	if log == nil {
		log = slog.Default()
	}
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := handler(srv, ss); err != nil {
			return convert(ss.Context(), domain, err, log).Err()
		}
		return nil
	}
}
