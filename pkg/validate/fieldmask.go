package validate

import (
	"strings"
	"unicode"
)

// MaskPaths returns update-mask paths in the API's snake_case spelling. REST clients send the
// JSON names (`updateMask=ownerId,address.city`), gRPC clients the proto names (`owner_id`); both
// must name the same fields.
func MaskPaths(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		var b strings.Builder
		for _, r := range strings.TrimSpace(p) {
			if unicode.IsUpper(r) {
				b.WriteByte('_')
				r = unicode.ToLower(r)
			}
			b.WriteRune(r)
		}
		out[i] = b.String()
	}
	return out
}
