package gateway

import (
	"net/http"
	"strings"
)

// CORS policy of the API: what browsers may send and read.
const (
	corsMethods       = "GET, POST, PATCH, DELETE, OPTIONS"
	corsHeaders       = "Authorization, Content-Type, Accept-Language, X-Request-Id, If-Match"
	corsExposeHeaders = "ETag, X-Request-Id"
	corsMaxAge        = "600"
)

// cors answers preflight requests and marks responses readable by the allowed origins. Tokens
// travel in the Authorization header, not in cookies, so credentials are never allowed and "*"
// is safe to offer.
type cors struct {
	any     bool
	origins map[string]bool
}

func newCORS(origins []string) cors {
	c := cors{origins: make(map[string]bool, len(origins))}
	for _, o := range origins {
		if o == "*" {
			c.any = true
		}
		c.origins[strings.TrimRight(o, "/")] = true
	}
	return c
}

func (c cors) allowed(origin string) bool { return c.any || c.origins[origin] }

func (c cors) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		h := w.Header()
		h.Add("Vary", "Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		if !c.allowed(origin) {
			if preflight {
				// No CORS headers: the browser blocks the real request.
				w.WriteHeader(http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if c.any {
			h.Set("Access-Control-Allow-Origin", "*")
		} else {
			h.Set("Access-Control-Allow-Origin", origin)
		}
		if preflight {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", corsMethods)
			h.Set("Access-Control-Allow-Headers", corsHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		next.ServeHTTP(w, r)
	})
}
