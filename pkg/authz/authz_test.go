package authz_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/crmsuite/crm/pkg/apierr"
	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/authz"
)

const (
	getCustomer    = "/crm.customer.v1.CustomerService/GetCustomer"
	deleteCustomer = "/crm.customer.v1.CustomerService/DeleteCustomer"
	watchAudit     = "/crm.audit.v1.AuditService/WatchEntries"
	unlisted       = "/crm.customer.v1.CustomerService/MergeCustomers"
)

var policy = authz.Policy{
	getCustomer: {
		authn.RoleAdmin:     authz.ScopeAll,
		authn.RoleManager:   authz.ScopeTeam,
		authn.RoleSales:     authz.ScopeOwn,
		authn.RoleService:   authz.ScopeAll,
		authn.RoleExecutive: authz.ScopeNone,
	},
	deleteCustomer: {authn.RoleAdmin: authz.ScopeAll},
	watchAudit:     {authn.RoleAdmin: authz.ScopeAll, authn.RoleSystem: authz.ScopeAll},
}

func principal(roles ...authn.Role) authn.Principal {
	return authn.Principal{UserID: "u-1", Team: "east", Roles: roles}
}

func TestPolicyScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method string
		roles  []authn.Role
		want   authz.Scope
	}{
		{getCustomer, []authn.Role{authn.RoleAdmin}, authz.ScopeAll},
		{getCustomer, []authn.Role{authn.RoleManager}, authz.ScopeTeam},
		{getCustomer, []authn.Role{authn.RoleSales}, authz.ScopeOwn},
		{getCustomer, []authn.Role{authn.RoleService}, authz.ScopeAll},
		{getCustomer, []authn.Role{authn.RoleExecutive}, authz.ScopeNone},
		{getCustomer, []authn.Role{authn.RoleSystem}, authz.ScopeNone},
		{getCustomer, nil, authz.ScopeNone},
		{getCustomer, []authn.Role{authn.RoleSales, authn.RoleManager}, authz.ScopeTeam},
		{getCustomer, []authn.Role{authn.RoleManager, authn.RoleSales}, authz.ScopeTeam},
		{getCustomer, []authn.Role{authn.RoleExecutive, authn.RoleSales}, authz.ScopeOwn},
		{deleteCustomer, []authn.Role{authn.RoleAdmin}, authz.ScopeAll},
		{deleteCustomer, []authn.Role{authn.RoleManager, authn.RoleSales, authn.RoleService, authn.RoleExecutive}, authz.ScopeNone},
		{unlisted, []authn.Role{authn.RoleAdmin}, authz.ScopeNone},
		{unlisted, []authn.Role{authn.RoleSystem}, authz.ScopeNone},
	}
	for _, tt := range tests {
		t.Run(tt.method+"/"+tt.want.String(), func(t *testing.T) {
			t.Parallel()
			if got := policy.Scope(tt.method, principal(tt.roles...)); got != tt.want {
				t.Errorf("Scope(%s, %v) = %v, want %v", tt.method, tt.roles, got, tt.want)
			}
		})
	}
}

func TestUnaryServerInterceptor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		method   string
		pr       *authn.Principal // nil: no principal in the context
		want     authz.Scope
		wantCode codes.Code
	}{
		{"sales reads own", getCustomer, &authn.Principal{UserID: "u", Roles: []authn.Role{authn.RoleSales}}, authz.ScopeOwn, codes.OK},
		{"manager reads team", getCustomer, &authn.Principal{UserID: "u", Roles: []authn.Role{authn.RoleManager}}, authz.ScopeTeam, codes.OK},
		{"executive denied", getCustomer, &authn.Principal{UserID: "u", Roles: []authn.Role{authn.RoleExecutive}}, authz.ScopeNone, codes.PermissionDenied},
		{"sales cannot delete", deleteCustomer, &authn.Principal{UserID: "u", Roles: []authn.Role{authn.RoleSales}}, authz.ScopeNone, codes.PermissionDenied},
		{"method not in policy denied even to admin", unlisted, &authn.Principal{UserID: "u", Roles: []authn.Role{authn.RoleAdmin}}, authz.ScopeNone, codes.PermissionDenied},
		{"no principal fails closed", getCustomer, nil, authz.ScopeNone, codes.Unauthenticated},
		{"health is public", "/grpc.health.v1.Health/Check", nil, authz.ScopeNone, codes.OK},
		{"reflection is public", "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", nil, authz.ScopeNone, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			if tt.pr != nil {
				ctx = authn.WithPrincipal(ctx, *tt.pr)
			}
			called := false
			_, err := authz.UnaryServerInterceptor(policy)(ctx, nil, &grpc.UnaryServerInfo{FullMethod: tt.method},
				func(ctx context.Context, _ any) (any, error) {
					called = true
					if got := authz.ScopeFromContext(ctx); got != tt.want {
						t.Errorf("scope in handler = %v, want %v", got, tt.want)
					}
					return nil, nil
				})
			checkResult(t, err, called, tt.wantCode, tt.method)
		})
	}
}

func checkResult(t *testing.T, err error, called bool, wantCode codes.Code, method string) {
	t.Helper()
	if wantCode == codes.OK {
		if err != nil || !called {
			t.Fatalf("err = %v, called = %v; want the handler to run", err, called)
		}
		return
	}
	if called {
		t.Error("handler ran for a denied call")
	}
	var ae *apierr.Error
	if !errors.As(err, &ae) || ae.Code != wantCode || ae.Message.ZH == "" || ae.Message.EN == "" {
		t.Fatalf("err = %#v, want a %v *apierr.Error with both messages", err, wantCode)
	}
	wantReason := map[codes.Code]string{codes.PermissionDenied: "PERMISSION_DENIED", codes.Unauthenticated: "UNAUTHENTICATED"}[wantCode]
	if ae.Reason != wantReason {
		t.Errorf("reason = %q, want %q", ae.Reason, wantReason)
	}
	if wantCode == codes.PermissionDenied && ae.Metadata["method"] != method {
		t.Errorf("metadata = %v, want method %s", ae.Metadata, method)
	}
	if s := apierr.Status(context.Background(), "customer.crm", err); s.Code() != wantCode {
		t.Errorf("mapped status = %v", s)
	}
}

type fakeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s fakeStream) Context() context.Context { return s.ctx }

func TestStreamServerInterceptor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		method   string
		roles    []authn.Role
		want     authz.Scope
		wantCode codes.Code
	}{
		{"system may watch", watchAudit, []authn.Role{authn.RoleSystem}, authz.ScopeAll, codes.OK},
		{"sales may not watch", watchAudit, []authn.Role{authn.RoleSales}, authz.ScopeNone, codes.PermissionDenied},
		{"unlisted stream denied", "/crm.audit.v1.AuditService/Other", []authn.Role{authn.RoleAdmin}, authz.ScopeNone, codes.PermissionDenied},
		{"health watch is public", "/grpc.health.v1.Health/Watch", nil, authz.ScopeNone, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ss := fakeStream{ctx: authn.WithPrincipal(context.Background(), principal(tt.roles...))}
			called := false
			err := authz.StreamServerInterceptor(policy)(nil, ss, &grpc.StreamServerInfo{FullMethod: tt.method},
				func(_ any, ss grpc.ServerStream) error {
					called = true
					if got := authz.ScopeFromContext(ss.Context()); got != tt.want {
						t.Errorf("scope in handler = %v, want %v", got, tt.want)
					}
					return nil
				})
			checkResult(t, err, called, tt.wantCode, tt.method)
		})
	}
}

func TestScopeContext(t *testing.T) {
	t.Parallel()
	if got := authz.ScopeFromContext(context.Background()); got != authz.ScopeNone {
		t.Errorf("empty context scope = %v", got)
	}
	if got := authz.ScopeFromContext(authz.WithScope(context.Background(), authz.ScopeTeam)); got != authz.ScopeTeam {
		t.Errorf("scope = %v, want team", got)
	}
}

func TestUncovered(t *testing.T) {
	t.Parallel()
	services := map[string]grpc.ServiceInfo{
		"crm.customer.v1.CustomerService": {Methods: []grpc.MethodInfo{{Name: "GetCustomer"}, {Name: "DeleteCustomer"}, {Name: "MergeCustomers"}}},
		"crm.audit.v1.AuditService":       {Methods: []grpc.MethodInfo{{Name: "WatchEntries", IsServerStream: true}, {Name: "VerifyChain"}}},
		"grpc.health.v1.Health":           {Methods: []grpc.MethodInfo{{Name: "Check"}, {Name: "Watch"}}},
	}
	want := []string{"/crm.audit.v1.AuditService/VerifyChain", unlisted}
	if got := policy.Uncovered(services); !reflect.DeepEqual(got, want) {
		t.Errorf("Uncovered = %v, want %v", got, want)
	}
}
