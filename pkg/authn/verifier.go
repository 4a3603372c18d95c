package authn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
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
//
// A token that verified is remembered (by its exact text) for at most CacheTTL and never past its
// expiry, so that a client sending the same token with every request is not parsed and checked
// again each time: at a thousand requests a second, parsing the JSON claims was a sixth of a
// service's CPU. Failures are not remembered.
type Verifier struct {
	keyfunc jwt.Keyfunc
	parser  *jwt.Parser
	cache   *tokenCache
}

// CacheTTL bounds how long a verified token is taken on trust without being checked again, and
// so how long a key removed from the JWKS keeps its tokens working.
const CacheTTL = time.Minute

// cacheSize bounds the remembered tokens (a few hundred bytes each).
const cacheSize = 10_000

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
		cache:   newTokenCache(time.Now),
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
		cache:   newTokenCache(time.Now),
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
	if p, ok := v.cache.get(token); ok {
		return p, nil
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
	// The parser accepts the token until exp + Leeway; remembering it no longer than that keeps
	// the answer the same as checking again.
	v.cache.put(token, p, c.ExpiresAt.Add(Leeway))
	return p, nil
}

// tokenCache remembers verified tokens. It is safe for concurrent use; a nil cache remembers
// nothing.
type tokenCache struct {
	now func() time.Time

	mu      sync.Mutex
	entries map[string]cachedToken
}

type cachedToken struct {
	p     Principal
	until time.Time
}

func newTokenCache(now func() time.Time) *tokenCache {
	return &tokenCache{now: now, entries: map[string]cachedToken{}}
}

// get returns the principal of a token verified before and still within its time.
func (c *tokenCache) get(token string) (Principal, bool) {
	if c == nil {
		return Principal{}, false
	}
	c.mu.Lock()
	e, ok := c.entries[token]
	c.mu.Unlock()
	if !ok || !c.now().Before(e.until) {
		return Principal{}, false
	}
	p := e.p
	p.Roles = slices.Clone(p.Roles) // callers may change theirs
	return p, true
}

// put remembers a verified token until expires, or CacheTTL from now if that is sooner. When the
// cache is full, expired entries go first, and if none has expired, all of them.
func (c *tokenCache) put(token string, p Principal, expires time.Time) {
	if c == nil {
		return
	}
	now := c.now()
	until := expires
	if limit := now.Add(CacheTTL); until.After(limit) {
		until = limit
	}
	p.Roles = slices.Clone(p.Roles)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= cacheSize {
		for k, e := range c.entries {
			if !now.Before(e.until) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= cacheSize {
			clear(c.entries)
		}
	}
	c.entries[token] = cachedToken{p: p, until: until}
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
