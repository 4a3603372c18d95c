package audit

import (
	"errors"
	"fmt"
	"iter"
	"slices"
	"testing"
	"time"
)

// chain builds n correctly linked records.
func chain(t *testing.T, n int) []Record {
	t.Helper()
	var rs []Record
	prev := Link{}
	for i := range n {
		e := Entry{
			EventID:    fmt.Sprintf("0193a5e4-7c2f-7d1a-9b3c-%012d", i),
			EventType:  "customer.updated",
			Source:     "customer",
			EntityType: "customer",
			EntityID:   fmt.Sprintf("CUST-20261123-%04d", i%3+1),
			EventTime:  NormalTime(t0.Add(time.Duration(i) * time.Second)),
			Actor:      Actor{UserID: "u-1", Role: "sales"},
			Changes:    []byte{byte(i)},
		}
		r := Chain(prev, e)
		rs = append(rs, r)
		prev = r.Head()
	}
	return rs
}

func TestVerify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		n           int
		tamper      func([]Record) []Record
		wantChecked int64
		wantBroken  int64
		wantReason  string
	}{
		{name: "empty chain", n: 0, wantChecked: 0},
		{name: "intact chain", n: 5, wantChecked: 5},
		{
			name:   "content altered",
			n:      5,
			tamper: func(rs []Record) []Record { rs[2].Actor.UserID = "someone-else"; return rs },
			// Record 3 no longer matches its hash.
			wantChecked: 3, wantBroken: 3, wantReason: ReasonHashMismatch,
		},
		{
			name:        "changes altered",
			n:           5,
			tamper:      func(rs []Record) []Record { rs[4].Changes = []byte{99}; return rs },
			wantChecked: 5, wantBroken: 5, wantReason: ReasonHashMismatch,
		},
		{
			name: "content and hash rewritten",
			n:    5,
			tamper: func(rs []Record) []Record {
				rs[1].EntityID = "CUST-20261123-0099"
				rs[1].Hash = Hash(rs[1].PrevHash, rs[1].Sequence, rs[1].Entry)
				return rs
			},
			// Record 2 is self-consistent now, but record 3 still points at its old hash.
			wantChecked: 3, wantBroken: 3, wantReason: ReasonPrevHashMismatch,
		},
		{
			name:        "prev hash altered",
			n:           5,
			tamper:      func(rs []Record) []Record { rs[3].PrevHash = GenesisHash; return rs },
			wantChecked: 4, wantBroken: 4, wantReason: ReasonPrevHashMismatch,
		},
		{
			name:        "first prev hash not genesis",
			n:           3,
			tamper:      func(rs []Record) []Record { rs[0].PrevHash = rs[2].Hash; return rs },
			wantChecked: 1, wantBroken: 1, wantReason: ReasonPrevHashMismatch,
		},
		{
			name:        "record removed",
			n:           5,
			tamper:      func(rs []Record) []Record { return slices.Delete(rs, 2, 3) },
			wantChecked: 3, wantBroken: 4, wantReason: ReasonSequenceGap,
		},
		{
			name:        "first record removed",
			n:           3,
			tamper:      func(rs []Record) []Record { return rs[1:] },
			wantChecked: 1, wantBroken: 2, wantReason: ReasonSequenceGap,
		},
		{
			name: "record removed and the rest renumbered",
			n:    5,
			tamper: func(rs []Record) []Record {
				rs = slices.Delete(rs, 2, 3)
				for i := 2; i < len(rs); i++ {
					rs[i].Sequence--
				}
				return rs
			},
			// Renumbered record 3 (formerly 4) points at the removed record's hash.
			wantChecked: 3, wantBroken: 3, wantReason: ReasonPrevHashMismatch,
		},
		{
			name:        "record duplicated",
			n:           3,
			tamper:      func(rs []Record) []Record { return slices.Insert(rs, 2, rs[1]) },
			wantChecked: 3, wantBroken: 2, wantReason: ReasonSequenceGap,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rs := chain(t, tt.n)
			if tt.tamper != nil {
				rs = tt.tamper(rs)
			}
			got, err := Verify(seq(rs, nil))
			if err != nil {
				t.Fatal(err)
			}
			want := Verification{OK: tt.wantReason == "", Checked: tt.wantChecked, FirstBrokenSequence: tt.wantBroken, Reason: tt.wantReason}
			if got != want {
				t.Errorf("Verify = %+v, want %+v", got, want)
			}
		})
	}
}

func TestVerifyStopsOnIteratorError(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection lost")
	got, err := Verify(seq(chain(t, 4), boom))
	if !errors.Is(err, boom) {
		t.Fatalf("Verify error = %v, want %v", err, boom)
	}
	if got.OK || got.Checked != 4 {
		t.Errorf("Verify = %+v, want not OK after 4 records", got)
	}
}

// seq yields rs, then err if it is not nil.
func seq(rs []Record, err error) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for _, r := range rs {
			if !yield(r, nil) {
				return
			}
		}
		if err != nil {
			yield(Record{}, err)
		}
	}
}
