package gateway

import (
	"context"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"

	auditv1 "github.com/crmsuite/crm/proto/gen/go/crm/audit/v1"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	feedbackv1 "github.com/crmsuite/crm/proto/gen/go/crm/feedback/v1"
	followupv1 "github.com/crmsuite/crm/proto/gen/go/crm/followup/v1"
	needsv1 "github.com/crmsuite/crm/proto/gen/go/crm/needs/v1"
	taggingv1 "github.com/crmsuite/crm/proto/gen/go/crm/tagging/v1"
)

// RegisterFunc is the generated Register<Service>Handler of one service: it routes the service's
// REST bindings to the service over conn. Never use the in-process Register<Service>HandlerServer,
// which skips the service's interceptors (authentication, authorisation, validation, tracing).
type RegisterFunc func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error

// Upstream is one gRPC service behind the gateway.
type Upstream struct {
	// Name is short and stable ("customer"); it appears in /readyz and in logs.
	Name string
	// AddrEnv is the environment variable holding the service's gRPC address.
	AddrEnv string
	// Addr is the gRPC address to dial: the default until ConfigFromEnv reads AddrEnv.
	Addr string
	// Register wires the service's REST bindings into the mux.
	Register RegisterFunc
}

// Upstreams returns the services behind the gateway with their default addresses; adding a
// service is one line here. It is a function rather than a package variable so that no caller
// can change the table for everyone else.
func Upstreams() []Upstream {
	return []Upstream{
		{Name: "customer", AddrEnv: "CUSTOMER_GRPC_ADDR", Addr: "127.0.0.1:9101", Register: customerv1.RegisterCustomerServiceHandler},
		{Name: "audit", AddrEnv: "AUDIT_GRPC_ADDR", Addr: "127.0.0.1:9102", Register: auditv1.RegisterAuditServiceHandler},
		{Name: "followup", AddrEnv: "FOLLOWUP_GRPC_ADDR", Addr: "127.0.0.1:9103", Register: followupv1.RegisterFollowUpServiceHandler},
		{Name: "needs", AddrEnv: "NEEDS_GRPC_ADDR", Addr: "127.0.0.1:9104", Register: needsv1.RegisterNeedServiceHandler},
		{Name: "tagging", AddrEnv: "TAGGING_GRPC_ADDR", Addr: "127.0.0.1:9105", Register: taggingv1.RegisterTaggingServiceHandler},
		{Name: "feedback", AddrEnv: "FEEDBACK_GRPC_ADDR", Addr: "127.0.0.1:9106", Register: feedbackv1.RegisterFeedbackServiceHandler},
	}
}
