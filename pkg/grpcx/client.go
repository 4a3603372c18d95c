package grpcx

import (
	"context"
	"fmt"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/crmsuite/crm/pkg/authn"
)

// Dial creates a client connection to another CRM service (or, for the
// gateway, to each service) with the otelgrpc stats handler, so that traces
// continue across the call, and interceptors that forward the caller's
// bearer token when the outgoing context has none (authn.ForwardToken); set
// a system token with authn.WithBearer where no user is involved. opts are
// appended and may override the defaults.
//
// The transport is plaintext: inside the cluster TLS (mTLS) is terminated by
// the service mesh sidecar, and locally everything runs on one machine. The
// connection is lazy: Dial does not wait for the server.
func Dial(target string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	all := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()),
		grpc.WithChainUnaryInterceptor(forwardUnary),
		grpc.WithChainStreamInterceptor(forwardStream),
		grpc.WithInitialWindowSize(streamWindow), // fixed windows: see streamWindow
		grpc.WithInitialConnWindowSize(connWindow),
	}, opts...)
	conn, err := grpc.NewClient(target, all...)
	if err != nil {
		return nil, fmt.Errorf("grpcx: dial %s: %w", target, err)
	}
	return conn, nil
}

func forwardUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return invoker(authn.ForwardToken(ctx), method, req, reply, cc, opts...)
}

func forwardStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return streamer(authn.ForwardToken(ctx), desc, cc, method, opts...)
}
