package authn_test

import (
	"testing"

	"github.com/crmsuite/crm/pkg/authn"
)

func TestMainRole(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		roles []authn.Role
		want  authn.Role
	}{
		{[]authn.Role{authn.RoleSales, authn.RoleAdmin}, authn.RoleAdmin},
		{[]authn.Role{authn.RoleService, authn.RoleManager}, authn.RoleManager},
		{[]authn.Role{authn.RoleExecutive}, authn.RoleExecutive},
		{nil, ""},
	} {
		if got := (authn.Principal{Roles: tc.roles}).MainRole(); got != tc.want {
			t.Errorf("MainRole(%v) = %q, want %q", tc.roles, got, tc.want)
		}
	}
}
