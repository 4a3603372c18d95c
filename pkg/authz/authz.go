// Package authz owns per-RPC permissions: a Policy saying which data scope
// each role gets through each gRPC method, deny by default, and the gRPC
// interceptors that enforce it and hand the scope to the handler. Row-level
// filtering (a sales rep sees only the customers they own) is the handler's
// and the store's job, driven by the Scope found in the context.
//
// It depends on pkg/authn for the caller's identity and must not import
// service code, pgx or nats.
package authz

import (
	"context"
	"maps"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/crmsuite/crm/pkg/apierr"
	"github.com/crmsuite/crm/pkg/authn"
)

// Scope says how much of the data a role may reach through one RPC. Larger
// values reach more.
type Scope int

// Scopes, narrowest first.
const (
	ScopeNone Scope = iota // denied
	ScopeOwn               // records the caller owns
	ScopeTeam              // records of the caller's team
	ScopeAll               // every record
)

// String returns the scope's name, for logs and test names.
func (s Scope) String() string {
	switch s {
	case ScopeNone:
		return "none"
	case ScopeOwn:
		return "own"
	case ScopeTeam:
		return "team"
	case ScopeAll:
		return "all"
	}
	return "invalid"
}

// Policy maps a full gRPC method name
// ("/crm.customer.v1.CustomerService/GetCustomer") to the scope each role
// gets. A method missing from the policy, or a role missing from a method, is
// denied.
type Policy map[string]map[authn.Role]Scope

// Scope returns the widest scope any of the principal's roles gets for
// method, ScopeNone when none does.
func (p Policy) Scope(method string, pr authn.Principal) Scope {
	roles := p[method]
	best := ScopeNone
	for _, r := range pr.Roles {
		if s := roles[r]; s > best {
			best = s
		}
	}
	return best
}

// Uncovered lists the methods of the registered services (grpc.Server's
// GetServiceInfo) that the policy does not mention, public ones excluded.
// Services assert in a test that it is empty, so that a new RPC cannot ship
// without a permission decision.
func (p Policy) Uncovered(services map[string]grpc.ServiceInfo) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(services)) {
		for _, m := range services[name].Methods {
			full := "/" + name + "/" + m.Name
			if _, ok := p[full]; !ok && !authn.IsPublic(full) {
				out = append(out, full)
			}
		}
	}
	return out
}

type scopeKey struct{}

// WithScope returns a context carrying s, as the interceptors do; for tests
// of handlers.
func WithScope(ctx context.Context, s Scope) context.Context {
	return context.WithValue(ctx, scopeKey{}, s)
}

// ScopeFromContext returns the scope granted for the current RPC, ScopeNone
// when there is none (so a handler reached without the interceptor shows
// nothing).
func ScopeFromContext(ctx context.Context) Scope {
	s, _ := ctx.Value(scopeKey{}).(Scope)
	return s
}

var (
	errDenied = apierr.New(codes.PermissionDenied, apierr.ReasonPermissionDenied,
		apierr.Message{ZH: "无权执行此操作", EN: "you are not allowed to perform this operation"})
	errNoPrincipal = apierr.New(codes.Unauthenticated, apierr.ReasonUnauthenticated,
		apierr.Message{ZH: "缺少身份凭证，请先登录", EN: "missing credentials: please sign in"})
)

// authorize returns ctx with the scope for method, or an *apierr.Error.
func (p Policy) authorize(ctx context.Context, method string) (context.Context, error) {
	pr, ok := authn.FromContext(ctx)
	if !ok {
		// authn did not run: fail closed.
		return ctx, errNoPrincipal
	}
	s := p.Scope(method, pr)
	if s == ScopeNone {
		return ctx, errDenied.With("method", method)
	}
	return WithScope(ctx, s), nil
}

// UnaryServerInterceptor enforces p on unary RPCs: PERMISSION_DENIED with
// reason PERMISSION_DENIED when the caller's scope is ScopeNone, otherwise
// the scope is stored in the context. Public methods (health, reflection)
// pass. Errors are *apierr.Error values: install the authn interceptor before
// this one and apierr's outside both.
func UnaryServerInterceptor(p Policy) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if authn.IsPublic(info.FullMethod) {
			return handler(ctx, req)
		}
		ctx, err := p.authorize(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor is UnaryServerInterceptor for streaming RPCs, so
// that a streaming method is denied by default too.
func StreamServerInterceptor(p Policy) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if authn.IsPublic(info.FullMethod) {
			return handler(srv, ss)
		}
		ctx, err := p.authorize(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
	}
}

// contextStream replaces the context of a server stream.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }
