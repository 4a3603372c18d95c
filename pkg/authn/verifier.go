package authn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// Leeway tolerates clock skew between the token issuer and the services when
// checking exp and nbf.
const Leeway = 60 * time.Second

// MinSecretLen is the shortest HS256 secret accepted: 256 bits, the size of
// the HMAC-SHA256 output (RFC 7518 §3.2).
const MinSecretLen = 32

// Errors returned by Verify besides the jwt library's own (expired, bad
// signature, wrong issuer…), which are wrapped.
var (
	ErrNoSubject = errors.New("token has no subject")
	ErrNoRole    = errors.New("token has no known role")
)

// claims is the token body the CRM reads and writes.
type claims struct {
	jwt.RegisteredClaims
	Name  string   `json:"name,omitempty"`
	Roles []string `json:"roles,omitempty"`
	Team  string   `json:"team,omitempty"`
}

// Verifier checks bearer JWTs and turns them into a Principal. It accepts
// only the algorithms of its key type (so "none" and HS256-signed-with-the-
// public-key confusion are refused), requires exp, checks exp and nbf with
// Leeway, and checks issuer and audience when configured.
type Verifier struct {
	keyfunc jwt.Keyfunc
	parser  *jwt.Parser
}

// NewHS256Verifier returns a verifier for tokens signed with a shared secret
// (local and development use). The secret must be at least MinSecretLen
// bytes. Empty issuer or audience are not checked.
func NewHS256Verifier(secret []byte, issuer, audience string) (*Verifier, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("authn: HS256 secret has %d bytes, want at least %d", len(secret), MinSecretLen)
	}
	key := append([]byte(nil), secret...)
	return &Verifier{
		keyfunc: func(*jwt.Token) (any, error) { return key, nil },
		parser:  newParser([]string{jwt.SigningMethodHS256.Alg()}, issuer, audience),
	}, nil
}

// NewJWKSVerifier returns a verifier for RS256 and ES256 tokens whose keys are
// published at jwksURL (an OIDC provider's jwks_uri). The key set is fetched
// now, so that a wrong URL fails at start-up, and refreshed in the background
// (hourly, and on an unknown key id at most every 5 minutes) until ctx is
// done. Empty issuer or audience are not checked.
func NewJWKSVerifier(ctx context.Context, jwksURL, issuer, audience string) (*Verifier, error) {
	failFirst := false
	k, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{jwksURL}, keyfunc.Override{
		HTTPTimeout:               10 * time.Second,
		NoErrorReturnFirstHTTPReq: &failFirst,
	})
	if err != nil {
		return nil, fmt.Errorf("authn: load JWKS: %w", err)
	}
	return &Verifier{
		keyfunc: k.Keyfunc,
		parser:  newParser([]string{jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg()}, issuer, audience),
	}, nil
}

func newParser(methods []string, issuer, audience string) *jwt.Parser {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithLeeway(Leeway),
		jwt.WithExpirationRequired(),
	}
	if issuer != "" {
		opts = append(opts, jwt.WithIssuer(issuer))
	}
	if audience != "" {
		opts = append(opts, jwt.WithAudience(audience))
	}
	return jwt.NewParser(opts...)
}

// Verify checks token and returns its principal. Roles the CRM does not know
// are dropped; a token without a subject or without any known role is
// rejected.
func (v *Verifier) Verify(token string) (Principal, error) {
	if v == nil {
		return Principal{}, errors.New("authn: no verifier configured")
	}
	var c claims
	if _, err := v.parser.ParseWithClaims(token, &c, v.keyfunc); err != nil {
		return Principal{}, fmt.Errorf("authn: %w", err)
	}
	if c.Subject == "" {
		return Principal{}, fmt.Errorf("authn: %w", ErrNoSubject)
	}
	p := Principal{UserID: c.Subject, Name: c.Name, Team: c.Team}
	for _, r := range c.Roles {
		role := Role(r)
		if role.Known() && !p.Has(role) {
			p.Roles = append(p.Roles, role)
		}
	}
	if len(p.Roles) == 0 {
		return Principal{}, fmt.Errorf("authn: %w", ErrNoRole)
	}
	return p, nil
}

// IssueHS256 mints a token for p valid for ttl: for the dev-token endpoint,
// tests, and `system` tokens between services in local mode. The secret must
// be at least MinSecretLen bytes. Empty issuer or audience are left out.
func IssueHS256(secret []byte, issuer, audience string, p Principal, ttl time.Duration) (string, error) {
	if len(secret) < MinSecretLen {
		return "", fmt.Errorf("authn: HS256 secret has %d bytes, want at least %d", len(secret), MinSecretLen)
	}
	if ttl <= 0 {
		return "", fmt.Errorf("authn: token ttl %v is not positive", ttl)
	}
	if p.UserID == "" {
		return "", fmt.Errorf("authn: issue token: %w", ErrNoSubject)
	}
	now := time.Now()
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   p.UserID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Name: p.Name,
		Team: p.Team,
	}
	if audience != "" {
		c.Audience = jwt.ClaimStrings{audience}
	}
	for _, r := range p.Roles {
		c.Roles = append(c.Roles, string(r))
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("authn: sign token: %w", err)
	}
	return s, nil
}
