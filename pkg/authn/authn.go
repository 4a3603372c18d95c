// Package authn owns caller identity: the roles of the CRM, the Principal
// carried in the request context, verification of bearer JWTs (HS256 with a
// shared secret for local use, RS256/ES256 against an OIDC JWKS URL in
// production), the gRPC interceptors that authenticate every non-public RPC,
// and the helpers that forward the caller's token to other services.
//
// It decides who the caller is, never what they may do: permissions live in
// pkg/authz. It must not import service code, pgx or nats.
package authn

import (
	"context"
	"slices"
)

// Role is a CRM role as carried in the JWT "roles" claim.
type Role string

// The roles of the CRM (SPEC §9). RoleSystem is for service-to-service calls
// where no user is involved.
const (
	RoleAdmin     Role = "admin"
	RoleManager   Role = "manager"
	RoleSales     Role = "sales"
	RoleService   Role = "service"
	RoleExecutive Role = "executive"
	RoleSystem    Role = "system"
)

// Known reports whether r is one of the CRM roles.
func (r Role) Known() bool {
	switch r {
	case RoleAdmin, RoleManager, RoleSales, RoleService, RoleExecutive, RoleSystem:
		return true
	}
	return false
}

// Principal is the authenticated caller. Name is personal data: do not log it.
type Principal struct {
	UserID string
	Name   string
	Team   string
	Roles  []Role
}

// Has reports whether the principal holds role r.
func (p Principal) Has(r Role) bool {
	return slices.Contains(p.Roles, r)
}

// MainRole returns the principal's most privileged role (admin, manager, sales, service,
// executive, system, in that order), the one audit records name; "" when it holds none of them.
func (p Principal) MainRole() Role {
	for _, r := range []Role{RoleAdmin, RoleManager, RoleSales, RoleService, RoleExecutive, RoleSystem} {
		if p.Has(r) {
			return r
		}
	}
	return ""
}

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal stored by WithPrincipal (the
// interceptors do this after verifying the token).
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
