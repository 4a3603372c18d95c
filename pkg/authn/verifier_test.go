package authn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/crmsuite/crm/pkg/authn"
)

var (
	secret      = []byte("0123456789abcdef0123456789abcdef")
	otherSecret = []byte("fedcba9876543210fedcba9876543210")
)

const (
	issuer   = "https://id.crm.local"
	audience = "crm"
)

// sign builds a token with arbitrary claims, for the cases IssueHS256 would
// never produce.
func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

func baseClaims(mod func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"sub":   "u-1",
		"name":  "张三",
		"team":  "east",
		"roles": []string{"sales"},
		"iss":   issuer,
		"aud":   audience,
		"iat":   now.Unix(),
		"exp":   now.Add(time.Hour).Unix(),
	}
	if mod != nil {
		mod(c)
	}
	return c
}

func TestHS256RoundTrip(t *testing.T) {
	t.Parallel()
	v, err := authn.NewHS256Verifier(secret, issuer, audience)
	if err != nil {
		t.Fatal(err)
	}
	in := authn.Principal{UserID: "u-42", Name: "李四", Team: "north",
		Roles: []authn.Role{authn.RoleManager, "wizard", authn.RoleSales, authn.RoleManager}}
	tok, err := authn.IssueHS256(secret, issuer, audience, in, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := authn.Principal{UserID: "u-42", Name: "李四", Team: "north", Roles: []authn.Role{authn.RoleManager, authn.RoleSales}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("principal = %+v, want %+v", got, want)
	}
	if !got.Has(authn.RoleSales) || got.Has(authn.RoleAdmin) {
		t.Errorf("Has: %+v", got)
	}
}

func TestHS256Verify(t *testing.T) {
	t.Parallel()
	strict, err := authn.NewHS256Verifier(secret, issuer, audience)
	if err != nil {
		t.Fatal(err)
	}
	lax, err := authn.NewHS256Verifier(secret, "", "")
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	hs := func(mod func(jwt.MapClaims)) string {
		return sign(t, jwt.SigningMethodHS256, secret, "", baseClaims(mod))
	}

	tests := []struct {
		name    string
		v       *authn.Verifier
		token   string
		wantErr error // nil: accepted; errAny: any error
	}{
		{"valid", strict, hs(nil), nil},
		{"expired inside leeway", strict, hs(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-30 * time.Second).Unix() }), nil},
		{"expired", strict, hs(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-2 * time.Minute).Unix() }), jwt.ErrTokenExpired},
		{"not yet valid", strict, hs(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(5 * time.Minute).Unix() }), jwt.ErrTokenNotValidYet},
		{"no exp", strict, hs(func(c jwt.MapClaims) { delete(c, "exp") }), jwt.ErrTokenRequiredClaimMissing},
		{"wrong secret", strict, sign(t, jwt.SigningMethodHS256, otherSecret, "", baseClaims(nil)), jwt.ErrTokenSignatureInvalid},
		{"wrong issuer", strict, hs(func(c jwt.MapClaims) { c["iss"] = "https://evil" }), jwt.ErrTokenInvalidIssuer},
		{"wrong audience", strict, hs(func(c jwt.MapClaims) { c["aud"] = "other" }), jwt.ErrTokenInvalidAudience},
		{"issuer and audience unchecked when not configured", lax, hs(func(c jwt.MapClaims) { c["iss"] = "x"; c["aud"] = "y" }), nil},
		{"no subject", strict, hs(func(c jwt.MapClaims) { delete(c, "sub") }), authn.ErrNoSubject},
		{"no roles", strict, hs(func(c jwt.MapClaims) { delete(c, "roles") }), authn.ErrNoRole},
		{"empty roles", strict, hs(func(c jwt.MapClaims) { c["roles"] = []string{} }), authn.ErrNoRole},
		{"only unknown roles", strict, hs(func(c jwt.MapClaims) { c["roles"] = []string{"root", "Admin"} }), authn.ErrNoRole},
		{"roles not an array", strict, hs(func(c jwt.MapClaims) { c["roles"] = "admin" }), errAny},
		{"alg none", strict, sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", baseClaims(nil)), errAny},
		{"HS512 with the same secret", strict, sign(t, jwt.SigningMethodHS512, secret, "", baseClaims(nil)), errAny},
		{"RS256 to an HS256 verifier", strict, sign(t, jwt.SigningMethodRS256, rsaKey, "", baseClaims(nil)), errAny},
		{"garbage", strict, "not.a.jwt", jwt.ErrTokenMalformed},
		{"empty", strict, "", jwt.ErrTokenMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := tt.v.Verify(tt.token)
			checkVerify(t, p, err, tt.wantErr)
		})
	}
}

var errAny = errors.New("any error")

func checkVerify(t *testing.T, p authn.Principal, err, wantErr error) {
	t.Helper()
	switch {
	case wantErr == nil && err != nil:
		t.Fatalf("Verify: %v, want success", err)
	case wantErr == nil && p.UserID == "":
		t.Fatalf("principal = %+v, want a user", p)
	case wantErr == errAny && err == nil:
		t.Fatalf("Verify accepted the token: %+v", p)
	case wantErr != nil && wantErr != errAny && !errors.Is(err, wantErr):
		t.Fatalf("Verify error = %v, want %v", err, wantErr)
	case err != nil && !reflect.DeepEqual(p, authn.Principal{}):
		t.Fatalf("principal %+v returned with an error", p)
	}
}

func TestNewHS256VerifierShortSecret(t *testing.T) {
	t.Parallel()
	if _, err := authn.NewHS256Verifier([]byte("short"), "", ""); err == nil {
		t.Error("NewHS256Verifier accepted a 5-byte secret")
	}
	if _, err := authn.IssueHS256([]byte("short"), "", "", authn.Principal{UserID: "u", Roles: []authn.Role{authn.RoleAdmin}}, time.Minute); err == nil {
		t.Error("IssueHS256 accepted a 5-byte secret")
	}
	if _, err := authn.IssueHS256(secret, "", "", authn.Principal{UserID: "u"}, 0); err == nil {
		t.Error("IssueHS256 accepted a zero ttl")
	}
	var nilVerifier *authn.Verifier
	if _, err := nilVerifier.Verify("x"); err == nil {
		t.Error("nil verifier accepted a token")
	}
}

// jwksServer serves the public keys as a JWK set and counts requests.
func jwksServer(t *testing.T, keys map[string]any) *httptest.Server {
	t.Helper()
	ctx := context.Background()
	store := jwkset.NewMemoryStorage()
	for kid, key := range keys {
		alg := jwkset.AlgRS256
		if _, ok := key.(*ecdsa.PrivateKey); ok {
			alg = jwkset.AlgES256
		}
		jwk, err := jwkset.NewJWKFromKey(key, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: alg, USE: jwkset.UseSig}})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.KeyWrite(ctx, jwk); err != nil {
			t.Fatal(err)
		}
	}
	body, err := store.JSONPublic(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), `"d"`) {
		t.Fatalf("JWK set leaks private parts: %s", body)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestJWKSVerifier(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	strangerKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	srv := jwksServer(t, map[string]any{"rsa-1": rsaKey, "ec-1": ecKey})

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := authn.NewJWKSVerifier(ctx, srv.URL, issuer, audience)
	if err != nil {
		t.Fatalf("NewJWKSVerifier: %v", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		token   string
		wantErr error
	}{
		{"RS256", sign(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", baseClaims(nil)), nil},
		{"ES256", sign(t, jwt.SigningMethodES256, ecKey, "ec-1", baseClaims(nil)), nil},
		{"RS256 without kid tries every key", sign(t, jwt.SigningMethodRS256, rsaKey, "", baseClaims(nil)), nil},
		{"RS256 by an unknown key under a known kid", sign(t, jwt.SigningMethodRS256, strangerKey, "rsa-1", baseClaims(nil)), jwt.ErrTokenSignatureInvalid},
		{"RS256 expired", sign(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", baseClaims(func(c jwt.MapClaims) {
			c["exp"] = time.Now().Add(-time.Hour).Unix()
		})), jwt.ErrTokenExpired},
		{"RS256 without roles", sign(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", baseClaims(func(c jwt.MapClaims) { delete(c, "roles") })), authn.ErrNoRole},
		{"alg confusion: HS256 keyed with the public key", sign(t, jwt.SigningMethodHS256, pubDER, "rsa-1", baseClaims(nil)), errAny},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "rsa-1", baseClaims(nil)), errAny},
		{"RS256 with the ES kid", sign(t, jwt.SigningMethodRS256, rsaKey, "ec-1", baseClaims(nil)), errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := v.Verify(tt.token)
			checkVerify(t, p, err, tt.wantErr)
			if err == nil && (p.UserID != "u-1" || p.Team != "east" || !p.Has(authn.RoleSales)) {
				t.Errorf("principal = %+v", p)
			}
		})
	}
}

func TestJWKSVerifierUnreachable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, err := authn.NewJWKSVerifier(ctx, srv.URL, "", ""); err == nil {
		t.Error("NewJWKSVerifier succeeded against a closed server")
	}
}
