package authn

import (
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVerifyRemembersVerifiedTokens(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	v, err := NewHS256Verifier(secret, "crm-dev", "crm")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Now()
	v.cache.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	keyCalls := 0
	key := v.keyfunc
	v.keyfunc = func(tk *jwt.Token) (any, error) { keyCalls++; return key(tk) }

	tok, err := IssueHS256(secret, "crm-dev", "crm", Principal{UserID: "u1", Team: "east", Roles: []Role{RoleSales}}, 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p1, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	p1.Roles[0] = RoleAdmin // a caller changing its copy must not change the cached one
	p2, err := v.Verify(tok)
	if err != nil || p2.UserID != "u1" || len(p2.Roles) != 1 || p2.Roles[0] != RoleSales {
		t.Fatalf("second Verify = %+v, %v", p2, err)
	}
	if keyCalls != 1 {
		t.Fatalf("token checked %d times, want once (then remembered)", keyCalls)
	}

	// A tampered copy is a different text: checked, and refused.
	if _, err := v.Verify(tok[:len(tok)-2] + "xx"); err == nil {
		t.Fatal("tampered token accepted")
	}
	// Past CacheTTL the token is checked again.
	advance(CacheTTL + time.Second)
	if _, err := v.Verify(tok); err != nil || keyCalls != 3 {
		t.Fatalf("after CacheTTL: %v, key looked up %d times, want 3", err, keyCalls)
	}
}

func TestTokenCacheNeverOutlivesExpiry(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	c := newTokenCache(func() time.Time { return now })
	c.put("short", Principal{UserID: "u"}, now.Add(10*time.Second))
	c.put("long", Principal{UserID: "u"}, now.Add(time.Hour))
	tests := []struct {
		name  string
		after time.Duration
		token string
		want  bool
	}{
		{"fresh", 0, "short", true},
		{"at expiry", 10 * time.Second, "short", false},
		{"long-lived within the TTL", CacheTTL - time.Second, "long", true},
		{"long-lived past the TTL", CacheTTL, "long", false},
		{"unknown", 0, "other", false},
	}
	for _, tt := range tests {
		c.now = func() time.Time { return now.Add(tt.after) }
		if _, ok := c.get(tt.token); ok != tt.want {
			t.Errorf("%s: get = %v, want %v", tt.name, ok, tt.want)
		}
	}
	var nilCache *tokenCache
	nilCache.put("x", Principal{}, now)
	if _, ok := nilCache.get("x"); ok {
		t.Error("nil cache remembered a token")
	}
}

func TestTokenCacheStaysBounded(t *testing.T) {
	t.Parallel()
	now := time.Now()
	c := newTokenCache(func() time.Time { return now })
	for i := range cacheSize + 10 {
		c.put(string(rune(i)), Principal{UserID: "u"}, now.Add(time.Minute))
	}
	if n := len(c.entries); n > cacheSize {
		t.Fatalf("%d entries, more than %d", n, cacheSize)
	}
}

// BenchmarkVerify compares checking a token every time (what every request cost before the cache)
// with finding it in the cache (every request after the first of a token).
func BenchmarkVerify(b *testing.B) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	tok, err := IssueHS256(secret, "crm-dev", "crm", Principal{UserID: "u1", Name: "销售一", Team: "east", Roles: []Role{RoleSales}}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		cache bool
	}{{"parse every time", false}, {"cached", true}} {
		b.Run(bc.name, func(b *testing.B) {
			v, err := NewHS256Verifier(secret, "crm-dev", "crm")
			if err != nil {
				b.Fatal(err)
			}
			if !bc.cache {
				v.cache = nil
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
