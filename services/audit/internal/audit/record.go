// Package audit is the audit log's domain (操作日志): the record of one change, its canonical
// encoding, the SHA-256 hash chain that makes the log tamper-evident, chain verification, list
// filters and their page tokens.
//
// It is pure Go: no database, gRPC or NATS imports. The store persists records and streams them to
// Verify; the server maps them to and from the API and the change events.
package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
)

// GenesisHash is the prev_hash of the first record: 64 zeros.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// ErrInvalidEvent says a change event cannot be recorded as it is (no usable id or type, or text
// PostgreSQL cannot store). Redelivering it will not help.
var ErrInvalidEvent = errors.New("audit: invalid event")

// Actor is who made a change.
type Actor struct {
	UserID string
	Role   string
	TeamID string
}

// Entry is the content of one record as taken from a change event, before it has a place in the
// chain.
type Entry struct {
	EventID    string
	EventType  string
	Source     string
	EntityType string
	EntityID   string
	// EventTime is in UTC and truncated to microseconds, the precision PostgreSQL keeps, so the
	// time read back hashes the same as the time written.
	EventTime time.Time
	Actor     Actor
	// Changes is the canonical encoding of the changed fields (see EncodeChanges). The chain
	// hashes these bytes as stored, so verification never depends on re-marshalling protobuf.
	Changes []byte
	TraceID string
}

// Record is one link of the chain: an Entry with its sequence, the time the audit service stored
// it and the hashes.
type Record struct {
	Entry
	// Sequence is the position in the chain, from 1, without gaps.
	Sequence int64
	// RecordTime is when the audit service stored the record. It is not hashed: it is the
	// service's own clock, not part of the change.
	RecordTime time.Time
	PrevHash   string
	Hash       string
}

// Link is the tail of the chain a new record is appended to. The zero Link is the empty chain.
type Link struct {
	Sequence int64
	Hash     string
}

// Head returns r as the tail of the chain.
func (r Record) Head() Link { return Link{Sequence: r.Sequence, Hash: r.Hash} }

// FromEvent takes the content of a record from a change event. The event must have a UUID id and
// a type; a missing or invalid time is replaced by now, so that an event is never refused for it.
// Errors wrap ErrInvalidEvent.
func FromEvent(ev *eventsv1.Event, now time.Time) (Entry, error) {
	if ev == nil {
		return Entry{}, fmt.Errorf("%w: nil event", ErrInvalidEvent)
	}
	id, err := uuid.Parse(ev.GetId())
	if err != nil {
		return Entry{}, fmt.Errorf("%w: id is not a UUID", ErrInvalidEvent)
	}
	if ev.GetType() == "" {
		return Entry{}, fmt.Errorf("%w: event %s has no type", ErrInvalidEvent, id)
	}
	changes, err := EncodeChanges(ev.GetChanges())
	if err != nil {
		return Entry{}, fmt.Errorf("%w: event %s: %w", ErrInvalidEvent, id, err)
	}
	e := Entry{
		EventID:    id.String(),
		EventType:  ev.GetType(),
		Source:     ev.GetSource(),
		EntityType: ev.GetEntityType(),
		EntityID:   ev.GetSubject(),
		EventTime:  eventTime(ev.GetTime(), now),
		Actor: Actor{
			UserID: ev.GetActor().GetUserId(),
			Role:   ev.GetActor().GetRole(),
			TeamID: ev.GetActor().GetTeamId(),
		},
		Changes: changes,
		TraceID: TraceID(ev.GetTraceparent()),
	}
	// PostgreSQL text cannot hold NUL; protobuf already guarantees valid UTF-8.
	for _, s := range []string{e.EventType, e.Source, e.EntityType, e.EntityID, e.Actor.UserID, e.Actor.Role, e.Actor.TeamID} {
		if strings.ContainsRune(s, 0) {
			return Entry{}, fmt.Errorf("%w: event %s has a NUL character", ErrInvalidEvent, id)
		}
	}
	return e, nil
}

// NormalTime is t as records keep it: UTC, truncated to microseconds.
func NormalTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func eventTime(ts *timestamppb.Timestamp, now time.Time) time.Time {
	if ts == nil || ts.CheckValid() != nil {
		return NormalTime(now)
	}
	return NormalTime(ts.AsTime())
}

// TraceID returns the trace id of a W3C traceparent ("00-<32 hex>-<16 hex>-<2 hex>"), or "" when
// the header is absent or malformed.
func TraceID(traceparent string) string {
	parts := strings.Split(strings.TrimSpace(traceparent), "-")
	if len(parts) < 4 || len(parts[0]) != 2 || parts[0] == "ff" || len(parts[1]) != 32 || len(parts[2]) != 16 {
		return ""
	}
	id := strings.ToLower(parts[1])
	if _, err := hex.DecodeString(id); err != nil || id == strings.Repeat("0", 32) {
		return ""
	}
	return id
}

// Chain places e after prev: the next sequence, prev's hash as prev_hash, and the hash of both.
// RecordTime is left for the store to fill in.
func Chain(prev Link, e Entry) Record {
	r := Record{Entry: e, Sequence: prev.Sequence + 1, PrevHash: prev.Hash}
	if prev.Sequence == 0 {
		r.PrevHash = GenesisHash
	}
	r.Hash = Hash(r.PrevHash, r.Sequence, r.Entry)
	return r
}

// Hash is hex(SHA-256(prevHash || canonical content)), where the content is the sequence and every
// field of e (see canonical).
func Hash(prevHash string, sequence int64, e Entry) string {
	h := sha256.New()
	h.Write([]byte(prevHash))
	h.Write(canonical(sequence, e))
	return hex.EncodeToString(h.Sum(nil))
}

// canonicalVersion starts the hashed bytes, so that the encoding can change later without
// records of different encodings being confused.
const canonicalVersion = "crm.audit.v1"

// canonical encodes the hashed content unambiguously: a version tag, the sequence as 8 bytes big
// endian, then each field as a 4-byte big-endian length and its bytes, in a fixed order. Length
// prefixes keep ("ab","c") and ("a","bc") apart; the event time is RFC 3339 in UTC with
// nanoseconds, so it does not depend on the server's zone.
func canonical(sequence int64, e Entry) []byte {
	fields := [][]byte{
		[]byte(e.EventID),
		[]byte(e.EventType),
		[]byte(e.Source),
		[]byte(e.EntityType),
		[]byte(e.EntityID),
		[]byte(e.EventTime.UTC().Format(time.RFC3339Nano)),
		[]byte(e.Actor.UserID),
		[]byte(e.Actor.Role),
		[]byte(e.Actor.TeamID),
		e.Changes,
		[]byte(e.TraceID),
	}
	n := len(canonicalVersion) + 8
	for _, f := range fields {
		n += 4 + len(f)
	}
	b := make([]byte, 0, n)
	b = append(b, canonicalVersion...)
	b = binary.BigEndian.AppendUint64(b, uint64(sequence))
	for _, f := range fields {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}
