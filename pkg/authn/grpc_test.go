package authn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/crmsuite/crm/pkg/apierr"
	"github.com/crmsuite/crm/pkg/authn"
)

func TestUnaryServerInterceptor(t *testing.T) {
	t.Parallel()
	v, err := authn.NewHS256Verifier(secret, "", "")
	if err != nil {
		t.Fatal(err)
	}
	good, err := authn.IssueHS256(secret, "", "", authn.Principal{UserID: "u-7", Team: "t", Roles: []authn.Role{authn.RoleService}}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	const private = "/crm.customer.v1.CustomerService/GetCustomer"

	tests := []struct {
		name     string
		method   string
		auth     []string // authorization metadata values
		wantUser string   // principal seen by the handler; "" = none
		wantErr  bool
	}{
		{"valid bearer", private, []string{"Bearer " + good}, "u-7", false},
		{"lower-case scheme", private, []string{"bearer " + good}, "u-7", false},
		{"missing", private, nil, "", true},
		{"wrong scheme", private, []string{"Basic " + good}, "", true},
		{"no token after scheme", private, []string{"Bearer "}, "", true},
		{"bad token", private, []string{"Bearer abc.def.ghi"}, "", true},
		{"health is public", "/grpc.health.v1.Health/Check", nil, "", false},
		{"reflection is public", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", nil, "", false},
		{"public ignores a bad token", "/grpc.health.v1.Health/List", []string{"Bearer junk"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			if tt.auth != nil {
				md := metadata.MD{}
				md.Append("authorization", tt.auth...)
				ctx = metadata.NewIncomingContext(ctx, md)
			}
			called := false
			_, err := authn.UnaryServerInterceptor(v)(ctx, nil, &grpc.UnaryServerInfo{FullMethod: tt.method},
				func(ctx context.Context, _ any) (any, error) {
					called = true
					p, ok := authn.FromContext(ctx)
					if ok != (tt.wantUser != "") || p.UserID != tt.wantUser {
						t.Errorf("principal = %+v, %v; want user %q", p, ok, tt.wantUser)
					}
					return "ok", nil
				})
			if tt.wantErr {
				if called {
					t.Error("handler ran for an unauthenticated call")
				}
				assertUnauthenticated(t, err)
				return
			}
			if err != nil || !called {
				t.Errorf("err = %v, called = %v", err, called)
			}
		})
	}
}

// assertUnauthenticated checks the error and the status apierr makes of it.
func assertUnauthenticated(t *testing.T, err error) {
	t.Helper()
	var ae *apierr.Error
	if !errors.As(err, &ae) || ae.Code != codes.Unauthenticated || ae.Reason != "UNAUTHENTICATED" ||
		ae.Message.ZH == "" || ae.Message.EN == "" {
		t.Fatalf("err = %#v, want an UNAUTHENTICATED *apierr.Error with both messages", err)
	}
	en := metadata.NewIncomingContext(context.Background(), metadata.Pairs("accept-language", "en"))
	s := apierr.Status(en, "customer.crm", err)
	if s.Code() != codes.Unauthenticated || s.Message() != ae.Message.EN {
		t.Fatalf("status = %v", s)
	}
	info, ok := s.Details()[0].(*errdetails.ErrorInfo)
	if !ok || info.GetReason() != "UNAUTHENTICATED" || info.GetDomain() != "customer.crm" {
		t.Errorf("details = %v", s.Details())
	}
}

type fakeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s fakeStream) Context() context.Context { return s.ctx }

func TestStreamServerInterceptor(t *testing.T) {
	t.Parallel()
	v, err := authn.NewHS256Verifier(secret, "", "")
	if err != nil {
		t.Fatal(err)
	}
	good, err := authn.IssueHS256(secret, "", "", authn.Principal{UserID: "u-8", Roles: []authn.Role{authn.RoleAdmin}}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	icpt := authn.StreamServerInterceptor(v)
	info := &grpc.StreamServerInfo{FullMethod: "/crm.audit.v1.AuditService/StreamEntries"}

	ok := fakeStream{ctx: metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+good))}
	err = icpt(nil, ok, info, func(_ any, ss grpc.ServerStream) error {
		if p, found := authn.FromContext(ss.Context()); !found || p.UserID != "u-8" {
			t.Errorf("principal = %+v, %v", p, found)
		}
		return nil
	})
	if err != nil {
		t.Errorf("authenticated stream: %v", err)
	}

	missing := fakeStream{ctx: context.Background()}
	err = icpt(nil, missing, info, func(any, grpc.ServerStream) error {
		t.Error("handler ran for an unauthenticated stream")
		return nil
	})
	assertUnauthenticated(t, err)
}

func TestForwardToken(t *testing.T) {
	t.Parallel()
	incoming := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer user-token"))
	tests := []struct {
		name string
		ctx  context.Context
		want []string
	}{
		{"forwards the caller's token", authn.ForwardToken(incoming), []string{"Bearer user-token"}},
		{"keeps an explicit outgoing token", authn.ForwardToken(authn.WithBearer(incoming, "system-token")), []string{"Bearer system-token"}},
		{"nothing to forward", authn.ForwardToken(context.Background()), nil},
		{"WithBearer replaces", authn.WithBearer(authn.WithBearer(context.Background(), "a"), "b"), []string{"Bearer b"}},
		{"WithBearer keeps other metadata", authn.WithBearer(metadata.AppendToOutgoingContext(context.Background(), "x-request-id", "r1"), "a"), []string{"Bearer a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			md, _ := metadata.FromOutgoingContext(tt.ctx)
			got := md.Get("authorization")
			if len(got) != len(tt.want) || (len(got) > 0 && got[0] != tt.want[0]) {
				t.Errorf("outgoing authorization = %v, want %v", got, tt.want)
			}
		})
	}
	md, _ := metadata.FromOutgoingContext(authn.WithBearer(metadata.AppendToOutgoingContext(context.Background(), "x-request-id", "r1"), "a"))
	if got := md.Get("x-request-id"); len(got) != 1 || got[0] != "r1" {
		t.Errorf("x-request-id = %v", got)
	}
}
