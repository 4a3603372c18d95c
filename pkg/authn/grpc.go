package authn

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/crmsuite/crm/pkg/apierr"
)

// authorizationKey is the gRPC metadata key of the bearer token; the
// grpc-gateway forwards the HTTP Authorization header under this key.
const authorizationKey = "authorization"

var (
	errMissingToken = apierr.New(codes.Unauthenticated, apierr.ReasonUnauthenticated,
		apierr.Message{ZH: "缺少身份凭证，请先登录", EN: "missing credentials: please sign in"})
	errInvalidToken = apierr.New(codes.Unauthenticated, apierr.ReasonUnauthenticated,
		apierr.Message{ZH: "身份凭证无效或已过期，请重新登录", EN: "invalid or expired credentials: please sign in again"})
)

// IsPublic reports whether a full gRPC method name needs no caller identity:
// health checks (probes carry no token) and server reflection (it describes
// the API, not data).
func IsPublic(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/grpc.health.v1.") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.")
}

// authenticate verifies the bearer token of the incoming metadata and
// returns ctx with the principal. Its errors are *apierr.Error values, which
// the apierr interceptor (installed outside this one) turns into statuses.
func authenticate(ctx context.Context, v *Verifier) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get(authorizationKey)
	if len(values) == 0 {
		return ctx, errMissingToken
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(values[0]), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return ctx, errInvalidToken
	}
	p, err := v.Verify(token)
	if err != nil {
		// The reason stays server-side: telling a caller why a token was
		// refused helps an attacker more than a legitimate client.
		return ctx, errInvalidToken
	}
	return WithPrincipal(ctx, p), nil
}

// UnaryServerInterceptor authenticates every non-public unary RPC with v and
// stores the Principal in the context. A missing or invalid token gives
// UNAUTHENTICATED with reason UNAUTHENTICATED, as an *apierr.Error: install
// apierr.UnaryServerInterceptor outside this interceptor.
func UnaryServerInterceptor(v *Verifier) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if IsPublic(info.FullMethod) {
			return handler(ctx, req)
		}
		ctx, err := authenticate(ctx, v)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor is UnaryServerInterceptor for streaming RPCs.
func StreamServerInterceptor(v *Verifier) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if IsPublic(info.FullMethod) {
			return handler(srv, ss)
		}
		ctx, err := authenticate(ss.Context(), v)
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

// ForwardToken copies the caller's bearer token from the incoming metadata
// into the outgoing context, for calls to other services on the caller's
// behalf. A token already set on the outgoing context (for example a system
// token set with WithBearer) is kept.
func ForwardToken(ctx context.Context) context.Context {
	if out, ok := metadata.FromOutgoingContext(ctx); ok && len(out.Get(authorizationKey)) > 0 {
		return ctx
	}
	in, _ := metadata.FromIncomingContext(ctx)
	values := in.Get(authorizationKey)
	if len(values) == 0 {
		return ctx
	}
	return setOutgoing(ctx, values[0])
}

// WithBearer returns a context whose outgoing calls carry token, replacing
// any authorization already set.
func WithBearer(ctx context.Context, token string) context.Context {
	return setOutgoing(ctx, "Bearer "+token)
}

func setOutgoing(ctx context.Context, value string) context.Context {
	out, _ := metadata.FromOutgoingContext(ctx)
	out = out.Copy()
	out.Set(authorizationKey, value)
	return metadata.NewOutgoingContext(ctx, out)
}
