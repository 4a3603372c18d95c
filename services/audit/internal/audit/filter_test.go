package audit

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"
)

func TestPageTokenRoundTrip(t *testing.T) {
	t.Parallel()
	f := Filter{EntityID: "CUST-20261123-0001", Start: t0, End: t0.Add(time.Hour)}
	tok := EncodePageToken(42, f)
	got, err := DecodePageToken(tok, f)
	if err != nil || got != 42 {
		t.Fatalf("DecodePageToken = %d, %v; want 42", got, err)
	}
	// The same filters in another zone are the same filters.
	same := f
	same.Start = f.Start.In(time.UTC)
	if got, err := DecodePageToken(tok, same); err != nil || got != 42 {
		t.Fatalf("DecodePageToken with the same instant in UTC = %d, %v; want 42", got, err)
	}
	if got, err := DecodePageToken("", f); err != nil || got != 0 {
		t.Fatalf("DecodePageToken(\"\") = %d, %v; want 0, nil", got, err)
	}
}

func TestPageTokenRefusedForOtherFiltersOrGarbage(t *testing.T) {
	t.Parallel()
	f := Filter{EntityID: "CUST-1", EntityType: "customer", ActorID: "u-1", EventType: "customer.updated", Start: t0, End: t0.Add(time.Hour)}
	tok := EncodePageToken(42, f)
	tests := []struct {
		name  string
		token string
		f     Filter
	}{
		{"other entity id", tok, func() Filter { g := f; g.EntityID = "CUST-2"; return g }()},
		{"other entity type", tok, func() Filter { g := f; g.EntityType = "contact"; return g }()},
		{"other actor", tok, func() Filter { g := f; g.ActorID = "u-2"; return g }()},
		{"other event type", tok, func() Filter { g := f; g.EventType = "customer.deleted"; return g }()},
		{"other start", tok, func() Filter { g := f; g.Start = t0.Add(time.Second); return g }()},
		{"no end", tok, func() Filter { g := f; g.End = time.Time{}; return g }()},
		{"fields shifted", tok, func() Filter { g := f; g.EntityID, g.EntityType = "CUST-1c", "ustomer"; return g }()},
		{"not base64", "!!!", f},
		{"too short", base64.RawURLEncoding.EncodeToString([]byte{1, 2, 3}), f},
		{"wrong version", func() string {
			b, _ := base64.RawURLEncoding.DecodeString(tok)
			b[0] = 9
			return base64.RawURLEncoding.EncodeToString(b)
		}(), f},
		{"sequence 1", EncodePageToken(1, f), f},
		{"negative sequence", EncodePageToken(-5, f), f},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := DecodePageToken(tt.token, tt.f); !errors.Is(err, ErrInvalidPageToken) {
				t.Fatalf("DecodePageToken error = %v, want ErrInvalidPageToken", err)
			}
		})
	}
}

func TestFilterNormalRoundsUpToMicroseconds(t *testing.T) {
	t.Parallel()
	in := time.Date(2026, 1, 1, 0, 0, 0, 1500, time.FixedZone("CST", 8*3600))
	f := Filter{Start: in, End: time.Date(2026, 1, 1, 0, 0, 1, 2000, time.UTC)}.Normal()
	if want := time.Date(2025, 12, 31, 16, 0, 0, 2000, time.UTC); !f.Start.Equal(want) || f.Start.Location() != time.UTC {
		t.Errorf("Start = %v, want %v", f.Start, want)
	}
	if want := time.Date(2026, 1, 1, 0, 0, 1, 2000, time.UTC); !f.End.Equal(want) {
		t.Errorf("End = %v, want %v (already whole)", f.End, want)
	}
	if z := (Filter{}).Normal(); !z.Start.IsZero() || !z.End.IsZero() {
		t.Errorf("zero times became %v, %v", z.Start, z.End)
	}
}
