package authn

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"
)

// Auth is how a service checks its callers and identifies itself to other services.
type Auth struct {
	// Verifier checks the bearer tokens of incoming calls.
	Verifier *Verifier
	// SystemToken returns a token with the `system` role, for calls no user makes (reading the
	// audit log on a user's behalf after the service checked that user's access itself).
	SystemToken func() (string, error)
}

// FromEnv configures authentication from the environment: AUTH_HS256_SECRET (local and test
// deployments) or AUTH_JWKS_URL (production OIDC), with AUTH_ISSUER and AUTH_AUDIENCE. The system
// token is SERVICE_TOKEN when set, otherwise minted with the HS256 secret for the named service.
// Without either verification setting the service refuses to start: there is no open mode.
func FromEnv(ctx context.Context, service string) (*Auth, error) {
	issuer := envOr("AUTH_ISSUER", "crm-dev")
	audience := envOr("AUTH_AUDIENCE", "crm")
	secret := os.Getenv("AUTH_HS256_SECRET")
	jwksURL := os.Getenv("AUTH_JWKS_URL")
	var v *Verifier
	var err error
	switch {
	case jwksURL != "":
		v, err = NewJWKSVerifier(ctx, jwksURL, issuer, audience)
	case secret != "":
		v, err = NewHS256Verifier([]byte(secret), issuer, audience)
	default:
		return nil, errors.New("set AUTH_HS256_SECRET (local) or AUTH_JWKS_URL (OIDC) to verify callers")
	}
	if err != nil {
		return nil, err
	}
	a := &Auth{Verifier: v}
	switch fixed := os.Getenv("SERVICE_TOKEN"); {
	case fixed != "":
		a.SystemToken = func() (string, error) { return fixed, nil }
	case secret != "":
		a.SystemToken = systemTokens([]byte(secret), issuer, audience, service)
	default:
		a.SystemToken = func() (string, error) {
			return "", errors.New("no SERVICE_TOKEN configured for service-to-service calls")
		}
	}
	return a, nil
}

// systemTokens mints a one-hour system token and reuses it until ten minutes before it expires.
func systemTokens(secret []byte, issuer, audience, service string) func() (string, error) {
	var mu sync.Mutex
	var token string
	var expires time.Time
	return func() (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if token != "" && time.Until(expires) > 10*time.Minute {
			return token, nil
		}
		const ttl = time.Hour
		t, err := IssueHS256(secret, issuer, audience, Principal{UserID: "service:" + service, Name: service, Roles: []Role{RoleSystem}}, ttl)
		if err != nil {
			return "", err
		}
		token, expires = t, time.Now().Add(ttl)
		return token, nil
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
