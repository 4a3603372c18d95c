package gateway

import (
	"net/http/httptest"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	auditv1 "github.com/crmsuite/crm/proto/gen/go/crm/audit/v1"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
)

func TestSetETag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		msg  proto.Message
		want string
	}{
		{"resource with etag", &customerv1.Customer{Etag: "7"}, `"7"`},
		{"resource without etag", &customerv1.Customer{}, ""},
		{"message without etag field", &auditv1.VerifyAuditChainResponse{Ok: true}, ""},
		{"etag needing escapes is skipped", &customerv1.Customer{Etag: `a"b`}, ""},
		{"no message", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			if err := setETag(t.Context(), w, tc.msg); err != nil {
				t.Fatal(err)
			}
			if got := w.Header().Get("ETag"); got != tc.want {
				t.Errorf("ETag %q, want %q", got, tc.want)
			}
		})
	}
}

func TestIncomingHeader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header, key string
		ok          bool
	}{
		{"Accept-Language", "accept-language", true},
		{"accept-language", "accept-language", true},
		{"X-Request-Id", "x-request-id", true},
		{"X-Request-ID", "x-request-id", true},
		// grpc-gateway forwards Authorization itself; matching it would send it twice.
		{"Authorization", "", false},
		{"Cookie", "", false},
		{"Grpc-Metadata-Authorization", "", false},
		{"X-Forwarded-For", "", false},
	} {
		key, ok := incomingHeader(tc.header)
		if key != tc.key || ok != tc.ok {
			t.Errorf("incomingHeader(%q) = %q, %v; want %q, %v", tc.header, key, ok, tc.key, tc.ok)
		}
	}
}

// ConfigFromEnv uses t.Setenv, so these tests cannot run in parallel.
func TestConfigFromEnv(t *testing.T) {
	t.Run("needs a way to verify tokens", func(t *testing.T) {
		t.Setenv("AUTH_HS256_SECRET", "")
		t.Setenv("AUTH_JWKS_URL", "")
		if _, err := ConfigFromEnv(); err == nil {
			t.Error("no error without AUTH_HS256_SECRET and AUTH_JWKS_URL")
		}
	})
	t.Run("addresses, off and lists", func(t *testing.T) {
		t.Setenv("AUTH_HS256_SECRET", "")
		t.Setenv("AUTH_JWKS_URL", "https://idp.example.com/jwks")
		t.Setenv("CUSTOMER_GRPC_ADDR", "off")
		t.Setenv("AUDIT_GRPC_ADDR", "audit:9000")
		t.Setenv("CORS_ALLOWED_ORIGINS", " https://a.example , ,https://b.example")
		t.Setenv("DEV_AUTH", "true")
		t.Setenv("AUTH_ISSUER", "")
		cfg, err := ConfigFromEnv()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, u := range cfg.Upstreams {
			got = append(got, u.Name+"="+u.Addr)
		}
		want := []string{"audit=audit:9000", "followup=127.0.0.1:9103", "needs=127.0.0.1:9104", "tagging=127.0.0.1:9105", "feedback=127.0.0.1:9106"}
		if !slices.Equal(got, want) {
			t.Errorf("upstreams %v", got)
		}
		if !slices.Equal(cfg.CORSAllowedOrigins, []string{"https://a.example", "https://b.example"}) {
			t.Errorf("origins %q", cfg.CORSAllowedOrigins)
		}
		if cfg.AuthIssuer != "crm-dev" || cfg.AuthAudience != "crm" || !cfg.DevAuth {
			t.Errorf("auth settings %+v", cfg)
		}
	})
}

func TestUpstreamsTable(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, u := range Upstreams() {
		if u.Name == "" || u.AddrEnv == "" || u.Addr == "" || u.Register == nil || seen[u.Name] {
			t.Errorf("bad or duplicate upstream %+v", u)
		}
		seen[u.Name] = true
	}
}
