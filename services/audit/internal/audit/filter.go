package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// Page sizes of ListAuditEvents.
const (
	DefaultPageSize = 100
	MaxPageSize     = 500
)

// ErrInvalidPageToken says a page token is malformed or was issued for other filters.
var ErrInvalidPageToken = errors.New("audit: invalid page token")

// Filter selects records; empty fields and zero times do not filter. Records come newest first
// (by sequence, descending).
type Filter struct {
	EntityID   string
	EntityType string
	ActorID    string
	EventType  string
	// Start is inclusive, End exclusive; both compare with the event time.
	Start time.Time
	End   time.Time
}

// Normal returns f with its times in UTC and rounded up to whole microseconds, the precision of
// stored event times, so that "at or after Start" and "before End" keep their meaning when the
// bounds reach the database.
func (f Filter) Normal() Filter {
	f.Start = ceilMicro(f.Start)
	f.End = ceilMicro(f.End)
	return f
}

func ceilMicro(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	t = t.UTC()
	if c := t.Truncate(time.Microsecond); !c.Equal(t) {
		return c.Add(time.Microsecond)
	}
	return t
}

// tokenVersion is the first byte of every page token.
const tokenVersion = 1

// fingerprint identifies the filters a token was issued for.
func (f Filter) fingerprint() []byte {
	f = f.Normal()
	var b []byte
	for _, s := range []string{f.EntityID, f.EntityType, f.ActorID, f.EventType} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	for _, t := range []time.Time{f.Start, f.End} {
		if t.IsZero() {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		b = binary.BigEndian.AppendUint64(b, uint64(t.Unix()))
		b = binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
	}
	sum := sha256.Sum256(b)
	return sum[:8]
}

// EncodePageToken returns the opaque token of the page that continues below sequence before,
// bound to f: base64url of a version byte, the sequence and a fingerprint of the filters.
func EncodePageToken(before int64, f Filter) string {
	b := make([]byte, 0, 17)
	b = append(b, tokenVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(before))
	b = append(b, f.fingerprint()...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodePageToken returns the sequence a token continues below. It fails with ErrInvalidPageToken
// when the token is malformed or was issued for filters other than f. The empty token is the
// first page and decodes as 0.
func DecodePageToken(token string, f Filter) (int64, error) {
	if token == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != 17 || b[0] != tokenVersion {
		return 0, ErrInvalidPageToken
	}
	before := int64(binary.BigEndian.Uint64(b[1:9]))
	if before <= 1 || !bytes.Equal(b[9:], f.fingerprint()) {
		return 0, ErrInvalidPageToken
	}
	return before, nil
}
