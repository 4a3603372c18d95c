package listquery

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/crmsuite/crm/pkg/validate"
)

// pageToken is the opaque next_page_token of every List RPC: the keyset cursor (any JSON-able
// value: a sort value and an id, a sequence, …) plus a fingerprint of the query, so that a token
// cannot be replayed against a different filter, order or caller.
type pageToken struct {
	Query  string          `json:"q"`
	Cursor json.RawMessage `json:"c"`
}

// Fingerprint identifies a query (its filter, order, caller, …) for the tokens of its pages.
func Fingerprint(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:8])
}

// EncodeToken returns the token of the next page; "" when there is none (c is nil).
func EncodeToken[T any](c *T, query string) string {
	if c == nil {
		return ""
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return ""
	}
	b, err := json.Marshal(pageToken{Query: query, Cursor: raw})
	if err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeToken returns the cursor of a page token (nil for the first page), refusing tokens of
// another query with a violation of page_token.
func DecodeToken[T any](s, query string) (*T, error) {
	if s == "" {
		return nil, nil
	}
	bad := &validate.Error{Violations: []validate.Violation{{Field: "page_token", Reason: validate.ReasonInvalidFormat,
		Message: validate.Message{ZH: "page_token 无效或与本次查询条件不符", EN: "page_token is invalid or belongs to a different query"}}}}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	var t pageToken
	if err := json.Unmarshal(b, &t); err != nil || t.Query != query || len(t.Cursor) == 0 {
		return nil, bad
	}
	var c T
	if err := json.Unmarshal(t.Cursor, &c); err != nil {
		return nil, bad
	}
	return &c, nil
}

// NonZero returns a pointer to v, or nil for the zero value (no next page).
func NonZero[T comparable](v T) *T {
	var zero T
	if v == zero {
		return nil
	}
	return &v
}

// PageSize applies the default page size (for 0) and refuses sizes outside 1..limit with a
// violation of page_size.
func PageSize(n int32, def, limit int) (int, error) {
	switch {
	case n == 0:
		return def, nil
	case n < 0 || int(n) > limit:
		return 0, &validate.Error{Violations: []validate.Violation{{Field: "page_size", Reason: validate.ReasonOutOfRange,
			Message: validate.Message{ZH: "page_size 须在 1 到 " + strconv.Itoa(limit) + " 之间", EN: "page_size must be between 1 and " + strconv.Itoa(limit)}}}}
	}
	return int(n), nil
}
