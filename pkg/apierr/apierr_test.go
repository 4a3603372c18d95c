package apierr_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/crmsuite/crm/pkg/apierr"
	"github.com/crmsuite/crm/pkg/validate"
)

const domain = "customer.crm"

func ctxLang(accept string) context.Context {
	ctx := context.Background()
	if accept == "" {
		return ctx
	}
	return metadata.NewIncomingContext(ctx, metadata.Pairs("accept-language", accept))
}

func TestLang(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		md   metadata.MD
		want string
	}{
		{"no metadata", nil, apierr.LangZH},
		{"empty header", metadata.Pairs("accept-language", ""), apierr.LangZH},
		{"english with region", metadata.Pairs("accept-language", "en-US,en;q=0.9"), apierr.LangEN},
		{"chinese preferred over english", metadata.Pairs("accept-language", "zh-CN,zh;q=0.9,en;q=0.8"), apierr.LangZH},
		{"english weighted higher though listed later", metadata.Pairs("accept-language", "zh;q=0.5,en;q=0.8"), apierr.LangEN},
		{"tie goes to first listed", metadata.Pairs("accept-language", "en;q=0.7,zh;q=0.7"), apierr.LangEN},
		{"english refused with q=0", metadata.Pairs("accept-language", "en;q=0"), apierr.LangZH},
		{"other languages ignored", metadata.Pairs("accept-language", "fr-FR,de;q=0.9,en;q=0.1"), apierr.LangEN},
		{"only unsupported languages", metadata.Pairs("accept-language", "fr,de"), apierr.LangZH},
		{"wildcard ignored", metadata.Pairs("accept-language", "*"), apierr.LangZH},
		{"upper case and spaces", metadata.Pairs("accept-language", " EN-gb ; Q=0.9 "), apierr.LangEN},
		{"malformed q is unusable", metadata.Pairs("accept-language", "en;q=abc"), apierr.LangZH},
		{"gateway header", metadata.Pairs("grpcgateway-accept-language", "en"), apierr.LangEN},
		{"plain header wins over gateway header", metadata.Pairs("accept-language", "zh", "grpcgateway-accept-language", "en"), apierr.LangZH},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			if tt.md != nil {
				ctx = metadata.NewIncomingContext(ctx, tt.md)
			}
			if got := apierr.Lang(ctx); got != tt.want {
				t.Errorf("Lang = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestErrorValue(t *testing.T) {
	t.Parallel()
	base := apierr.New(codes.NotFound, "CUSTOMER_NOT_FOUND", apierr.Message{ZH: "客户不存在", EN: "customer not found"})
	decorated := base.With("id", "CUST-1").WithDetails(&errdetails.ResourceInfo{ResourceType: "customer"})

	if base.Metadata != nil || base.Details != nil {
		t.Errorf("With/WithDetails changed the original: %+v", base)
	}
	if decorated.Metadata["id"] != "CUST-1" || len(decorated.Details) != 1 {
		t.Errorf("decorated = %+v", decorated)
	}
	if again := decorated.With("k", "v"); len(decorated.Metadata) != 1 || len(again.Metadata) != 2 {
		t.Errorf("With shared the metadata map: %v / %v", decorated.Metadata, again.Metadata)
	}
	if !errors.Is(fmt.Errorf("load: %w", decorated), base) {
		t.Error("errors.Is(decorated, base) = false, want true")
	}
	if errors.Is(decorated, apierr.New(codes.NotFound, "OTHER", apierr.Message{})) {
		t.Error("errors.Is matched a different reason")
	}
	if got, want := decorated.Error(), "CUSTOMER_NOT_FOUND: customer not found"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	nf := apierr.NotFound("CUSTOMER_NOT_FOUND", apierr.Message{ZH: "客户不存在"}, "CUST-2")
	if nf.Code != codes.NotFound || nf.Metadata["id"] != "CUST-2" || nf.Error() != "CUSTOMER_NOT_FOUND: 客户不存在" {
		t.Errorf("NotFound = %+v (%q)", nf, nf.Error())
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	notFound := apierr.NotFound("CUSTOMER_NOT_FOUND", apierr.Message{ZH: "客户不存在", EN: "customer not found"}, "CUST-20250101-0001")
	candidate := &errdetails.ResourceInfo{ResourceType: "crm.customer.v1.Customer", ResourceName: "customers/CUST-20250101-0002"}
	duplicate := apierr.New(codes.AlreadyExists, "DUPLICATE_CUSTOMER", apierr.Message{ZH: "疑似重复客户", EN: "possible duplicate customer"}).
		With("match", "mobile").WithDetails(candidate)
	mobile := validate.Violation{Field: "mobile", Reason: "INVALID_FORMAT",
		Message: validate.Message{ZH: "联系方式格式错误，需为11位有效手机号", EN: "mobile must be an 11-digit mainland mobile number"}}
	name := validate.Violation{Field: "name", Reason: "REQUIRED", Message: validate.Message{ZH: "客户名称不能为空", EN: "name is required"}}
	nameLen := validate.Violation{Field: "name", Reason: "TOO_LONG", Message: validate.Message{ZH: "客户名称过长", EN: "name is too long"}}
	withViolations := apierr.New(codes.FailedPrecondition, "AMOUNT_NOT_ALLOWED", apierr.Message{ZH: "当前状态不允许填写金额", EN: "amount not allowed in this status"})
	withViolations.Violations = []validate.Violation{{Field: "estimated_annual_amount", Reason: "NOT_ALLOWED", Message: validate.Message{ZH: "仅意向或合作中客户可填写", EN: "only for intention or active customers"}}}

	downstream, err := status.New(codes.Unavailable, "audit down").WithDetails(&errdetails.ErrorInfo{Reason: "AUDIT_DOWN", Domain: "audit.crm"})
	if err != nil {
		t.Fatal(err)
	}

	fv := func(v validate.Violation, lang, text string) *errdetails.BadRequest_FieldViolation {
		return &errdetails.BadRequest_FieldViolation{Field: v.Field, Reason: v.Reason, Description: text,
			LocalizedMessage: &errdetails.LocalizedMessage{Locale: lang, Message: text}}
	}
	info := func(reason string, md map[string]string) *errdetails.ErrorInfo {
		return &errdetails.ErrorInfo{Reason: reason, Domain: domain, Metadata: md}
	}
	loc := func(lang, msg string) *errdetails.LocalizedMessage {
		return &errdetails.LocalizedMessage{Locale: lang, Message: msg}
	}

	tests := []struct {
		name    string
		accept  string
		err     error
		code    codes.Code
		msg     string
		details []proto.Message
	}{
		{
			name: "not found zh", err: notFound, code: codes.NotFound, msg: "客户不存在",
			details: []proto.Message{info("CUSTOMER_NOT_FOUND", map[string]string{"id": "CUST-20250101-0001"}), loc("zh-CN", "客户不存在")},
		},
		{
			name: "wrapped not found en", accept: "en-US,en;q=0.9", err: fmt.Errorf("get customer: %w", notFound),
			code: codes.NotFound, msg: "customer not found",
			details: []proto.Message{info("CUSTOMER_NOT_FOUND", map[string]string{"id": "CUST-20250101-0001"}), loc("en", "customer not found")},
		},
		{
			name: "duplicate with candidates en", accept: "en", err: duplicate, code: codes.AlreadyExists, msg: "possible duplicate customer",
			details: []proto.Message{info("DUPLICATE_CUSTOMER", map[string]string{"match": "mobile"}), loc("en", "possible duplicate customer"), candidate},
		},
		{
			name: "api error with violations zh", err: withViolations, code: codes.FailedPrecondition, msg: "当前状态不允许填写金额",
			details: []proto.Message{info("AMOUNT_NOT_ALLOWED", nil), loc("zh-CN", "当前状态不允许填写金额"),
				&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
					fv(withViolations.Violations[0], "zh-CN", "仅意向或合作中客户可填写")}}},
		},
		{
			name: "validation zh", err: &validate.Error{Violations: []validate.Violation{name, mobile, nameLen}},
			code: codes.InvalidArgument, msg: "2 个字段有误：name、mobile",
			details: []proto.Message{info("INVALID_ARGUMENT", nil), loc("zh-CN", "2 个字段有误：name、mobile"),
				&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
					fv(name, "zh-CN", "客户名称不能为空"),
					fv(mobile, "zh-CN", "联系方式格式错误，需为11位有效手机号"),
					fv(nameLen, "zh-CN", "客户名称过长"),
				}}},
		},
		{
			name: "wrapped validation en", accept: "zh;q=0.1,en", err: fmt.Errorf("create: %w", &validate.Error{Violations: []validate.Violation{name, mobile}}),
			code: codes.InvalidArgument, msg: "2 fields are invalid: name, mobile",
			details: []proto.Message{info("INVALID_ARGUMENT", nil), loc("en", "2 fields are invalid: name, mobile"),
				&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
					fv(name, "en", "name is required"),
					fv(mobile, "en", "mobile must be an 11-digit mainland mobile number"),
				}}},
		},
		{
			name: "single violation en", accept: "en", err: &validate.Error{Violations: []validate.Violation{mobile}},
			code: codes.InvalidArgument, msg: "1 field is invalid: mobile",
			details: []proto.Message{info("INVALID_ARGUMENT", nil), loc("en", "1 field is invalid: mobile"),
				&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
					fv(mobile, "en", "mobile must be an 11-digit mainland mobile number")}}},
		},
		{
			name: "english missing falls back to chinese", accept: "en",
			err:  apierr.New(codes.Aborted, "STALE_ETAG", apierr.Message{ZH: "记录已被修改"}),
			code: codes.Aborted, msg: "记录已被修改",
			details: []proto.Message{info("STALE_ETAG", nil), loc("en", "记录已被修改")},
		},
		{
			name: "cancelled zh", err: fmt.Errorf("query: %w", context.Canceled), code: codes.Canceled, msg: "请求已取消",
			details: []proto.Message{info("CANCELLED", nil), loc("zh-CN", "请求已取消")},
		},
		{
			name: "deadline en", accept: "en", err: fmt.Errorf("query: %w", context.DeadlineExceeded), code: codes.DeadlineExceeded, msg: "request timed out",
			details: []proto.Message{info("DEADLINE_EXCEEDED", nil), loc("en", "request timed out")},
		},
		{
			name: "unknown zh", err: errors.New("ERROR: relation customers does not exist (SQLSTATE 42P01)"), code: codes.Internal, msg: "服务内部错误",
			details: []proto.Message{info("INTERNAL", nil), loc("zh-CN", "服务内部错误")},
		},
		{
			name: "unknown en", accept: "en", err: errors.New("boom"), code: codes.Internal, msg: "internal error",
			details: []proto.Message{info("INTERNAL", nil), loc("en", "internal error")},
		},
		{
			name: "api error with code OK is a bug", err: apierr.New(codes.OK, "NOTHING", apierr.Message{ZH: "无"}), code: codes.Internal, msg: "服务内部错误",
			details: []proto.Message{info("INTERNAL", nil), loc("zh-CN", "服务内部错误")},
		},
		{
			name: "downstream status unchanged", accept: "en", err: fmt.Errorf("call audit: %w", downstream.Err()),
			code: codes.Unavailable, msg: "audit down",
			details: []proto.Message{&errdetails.ErrorInfo{Reason: "AUDIT_DOWN", Domain: "audit.crm"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := apierr.Status(ctxLang(tt.accept), domain, tt.err)
			if s.Code() != tt.code || s.Message() != tt.msg {
				t.Errorf("status = %v %q, want %v %q", s.Code(), s.Message(), tt.code, tt.msg)
			}
			assertDetails(t, s, tt.details)
		})
	}
}

func TestStatusNil(t *testing.T) {
	t.Parallel()
	if s := apierr.Status(context.Background(), domain, nil); s.Code() != codes.OK || s.Err() != nil {
		t.Errorf("Status(nil) = %v", s)
	}
}

func assertDetails(t *testing.T, s *status.Status, want []proto.Message) {
	t.Helper()
	got := s.Details()
	if len(got) != len(want) {
		t.Fatalf("got %d details %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range want {
		g, ok := got[i].(proto.Message)
		if !ok {
			t.Fatalf("detail %d is %T (%v), not a proto message", i, got[i], got[i])
		}
		if !proto.Equal(g, want[i]) {
			t.Errorf("detail %d = %v, want %v", i, g, want[i])
		}
	}
}

// logRecords decodes the JSON lines written by a slog.JSONHandler.
func logRecords(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestUnaryServerInterceptor(t *testing.T) {
	t.Parallel()
	traceID := trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}, TraceFlags: trace.FlagsSampled})
	ctx := trace.ContextWithSpanContext(ctxLang("en"), sc)
	info := &grpc.UnaryServerInfo{FullMethod: "/crm.customer.v1.CustomerService/GetCustomer"}

	tests := []struct {
		name     string
		err      error
		code     codes.Code
		logLines int
	}{
		{"success passes through", nil, codes.OK, 0},
		{"api error not logged", apierr.New(codes.NotFound, "CUSTOMER_NOT_FOUND", apierr.Message{EN: "customer not found"}), codes.NotFound, 0},
		{"validation error not logged", &validate.Error{Violations: []validate.Violation{{Field: "name", Reason: "REQUIRED"}}}, codes.InvalidArgument, 0},
		{"unknown error logged once", fmt.Errorf("insert customer: %w", errors.New("duplicate key value violates constraint")), codes.Internal, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&buf, nil))
			icpt := apierr.UnaryServerInterceptor(domain, log)
			resp, err := icpt(ctx, "mobile=13800138000", info, func(context.Context, any) (any, error) {
				if tt.err != nil {
					return "partial", tt.err
				}
				return "ok", nil
			})
			if got := status.Code(err); got != tt.code {
				t.Fatalf("code = %v, want %v (err %v)", got, tt.code, err)
			}
			if err == nil && resp != "ok" {
				t.Errorf("resp = %v, want ok", resp)
			}
			if err != nil && resp != nil {
				t.Errorf("resp = %v with an error, want nil", resp)
			}
			recs := logRecords(t, &buf)
			if len(recs) != tt.logLines {
				t.Fatalf("got %d log lines, want %d: %s", len(recs), tt.logLines, buf.String())
			}
			if tt.code != codes.Internal {
				return
			}
			s := status.Convert(err)
			if strings.Contains(s.Message(), "duplicate key") {
				t.Errorf("status message leaks the cause: %q", s.Message())
			}
			assertDetails(t, s, []proto.Message{
				&errdetails.ErrorInfo{Reason: "INTERNAL", Domain: domain, Metadata: map[string]string{"trace_id": traceID.String()}},
				&errdetails.LocalizedMessage{Locale: "en", Message: "internal error"},
			})
			rec := recs[0]
			if rec["level"] != "ERROR" || rec["trace_id"] != traceID.String() || rec["domain"] != domain ||
				!strings.Contains(fmt.Sprint(rec["error"]), "duplicate key") {
				t.Errorf("log record = %v", rec)
			}
			if strings.Contains(buf.String(), "13800138000") {
				t.Errorf("log carries the request payload: %s", buf.String())
			}
		})
	}
}

type fakeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s fakeStream) Context() context.Context { return s.ctx }

func TestStreamServerInterceptor(t *testing.T) {
	t.Parallel()
	icpt := apierr.StreamServerInterceptor(domain, slog.New(slog.DiscardHandler))
	ss := fakeStream{ctx: ctxLang("en")}
	info := &grpc.StreamServerInfo{FullMethod: "/crm.audit.v1.AuditService/Watch"}

	err := icpt(nil, ss, info, func(any, grpc.ServerStream) error {
		return &validate.Error{Violations: []validate.Violation{{Field: "filter", Reason: "INVALID_FORMAT", Message: validate.Message{ZH: "过滤条件有误", EN: "bad filter"}}}}
	})
	s := status.Convert(err)
	if s.Code() != codes.InvalidArgument || s.Message() != "1 field is invalid: filter" {
		t.Errorf("status = %v %q", s.Code(), s.Message())
	}
	if err := icpt(nil, ss, info, func(any, grpc.ServerStream) error { return nil }); err != nil {
		t.Errorf("success: err = %v", err)
	}
}
