package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/crmsuite/crm/pkg/apierr"
	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/validate"
)

// devTokenPath mints tokens when dev auth is on; otherwise the path does not exist (404).
const devTokenPath = "/v1/auth/dev-token"

// Limits of dev tokens.
const (
	defaultDevTokenTTL = 12 * time.Hour
	minDevTokenTTL     = time.Minute
	maxDevTokenTTL     = 30 * 24 * time.Hour
	maxDevTokenField   = 64
)

// devTokenRequest is the body of POST /v1/auth/dev-token.
type devTokenRequest struct {
	UserID     string   `json:"userId"`
	Name       string   `json:"name"`
	Roles      []string `json:"roles"`
	Team       string   `json:"team"`
	TTLSeconds int64    `json:"ttlSeconds"`
}

// devTokenResponse is its answer; expireTime is RFC 3339 like the API's timestamps.
type devTokenResponse struct {
	Token      string `json:"token"`
	ExpireTime string `json:"expireTime"`
}

var (
	msgInvalidJSON = apierr.Message{ZH: "请求体不是有效的 JSON 或含有未知字段", EN: "the body is not valid JSON or has unknown fields"}
	msgUserIDForm  = apierr.Message{ZH: "用户ID只能包含字母、数字和 . _ @ -，最长64个字符", EN: "user id must be 1-64 letters, digits or . _ @ -"}
	msgRoleUnknown = apierr.Message{ZH: "未知角色，可选：admin、manager、sales、service、executive、system", EN: "unknown role; known roles: admin, manager, sales, service, executive, system"}
	msgTTLRange    = apierr.Message{ZH: "有效期须在60秒到30天之间", EN: "ttlSeconds must be between 60 seconds and 30 days"}
)

// devToken mints an HS256 token for whoever the body names. It exists for local use and demos
// only (DEV_AUTH=true); production tokens come from the OIDC provider.
func (g *Gateway) devToken(w http.ResponseWriter, r *http.Request) {
	var req devTokenRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		g.writeError(w, r, 0, apierr.New(codes.InvalidArgument, "INVALID_JSON", msgInvalidJSON))
		return
	}
	p, ttl, err := req.principal()
	if err != nil {
		g.writeError(w, r, 0, err)
		return
	}
	token, err := authn.IssueHS256([]byte(g.cfg.AuthSecret), g.cfg.AuthIssuer, g.cfg.AuthAudience, p, ttl)
	if err != nil {
		g.writeError(w, r, 0, fmt.Errorf("issue dev token: %w", err))
		return
	}
	exp, err := tokenExpiry(token)
	if err != nil {
		g.writeError(w, r, 0, err)
		return
	}
	writeJSON(w, http.StatusOK, devTokenResponse{Token: token, ExpireTime: exp.UTC().Format(time.RFC3339)})
}

// principal validates the request, collecting every violation, and returns who the token is for.
func (req devTokenRequest) principal() (authn.Principal, time.Duration, error) {
	var c validate.Collector
	switch {
	case req.UserID == "":
		c.Add("userId", validate.ReasonRequired, validate.RequiredMessage("用户ID", "User id"))
	case !validUserID(req.UserID):
		c.Add("userId", validate.ReasonInvalidFormat, msgUserIDForm)
	}
	if validate.RuneLen(req.Name) > maxDevTokenField {
		c.Add("name", validate.ReasonTooLong, validate.TooLongMessage("姓名", "Name", maxDevTokenField))
	}
	if validate.RuneLen(req.Team) > maxDevTokenField {
		c.Add("team", validate.ReasonTooLong, validate.TooLongMessage("团队", "Team", maxDevTokenField))
	}
	p := authn.Principal{UserID: req.UserID, Name: req.Name, Team: req.Team}
	if len(req.Roles) == 0 {
		c.Add("roles", validate.ReasonRequired, validate.RequiredMessage("角色", "Roles"))
	}
	for i, r := range req.Roles {
		role := authn.Role(r)
		if !role.Known() {
			c.Add(fmt.Sprintf("roles[%d]", i), validate.ReasonUnknownCode, msgRoleUnknown)
			continue
		}
		if !p.Has(role) {
			p.Roles = append(p.Roles, role)
		}
	}
	ttl := defaultDevTokenTTL
	if req.TTLSeconds != 0 {
		// Compared in seconds before converting, so that a huge value cannot overflow.
		if req.TTLSeconds < int64(minDevTokenTTL/time.Second) || req.TTLSeconds > int64(maxDevTokenTTL/time.Second) {
			c.Add("ttlSeconds", validate.ReasonOutOfRange, msgTTLRange)
		}
		ttl = time.Duration(req.TTLSeconds) * time.Second
	}
	if err := c.Err(); err != nil {
		return authn.Principal{}, 0, err
	}
	return p, ttl, nil
}

// validUserID accepts 1–64 characters of [A-Za-z0-9._@-]: user ids end up in logs and audit
// records, so they must be plain tokens.
func validUserID(s string) bool {
	if s == "" || len(s) > maxDevTokenField {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte("._@-", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// tokenExpiry reads the exp claim of a token we have just signed, so that the response states the
// exact expiry rather than a second-rounded guess of our own.
func tokenExpiry(token string) (time.Time, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, errors.New("dev token: not a JWS compact token")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, fmt.Errorf("dev token: decode payload: %w", err)
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return time.Time{}, fmt.Errorf("dev token: decode claims: %w", err)
	}
	sec, err := claims.Exp.Int64()
	if err != nil {
		return time.Time{}, fmt.Errorf("dev token: exp claim: %w", err)
	}
	return time.Unix(sec, 0), nil
}
