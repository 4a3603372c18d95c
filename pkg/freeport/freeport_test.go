package freeport

import (
	"fmt"
	"net"
	"testing"
)

func TestPickReturnsDistinctBindablePortsBelowTheEphemeralRange(t *testing.T) {
	start := ephemeralStart()
	if start == 0 {
		t.Skip("no ephemeral port range to read on this system")
	}
	seen := map[int]bool{}
	for range 50 {
		p, err := Pick()
		if err != nil {
			t.Fatal(err)
		}
		if p < lowest || p >= start {
			t.Fatalf("port %d outside [%d, %d)", p, lowest, start)
		}
		if seen[p] {
			t.Fatalf("port %d returned twice", p)
		}
		seen[p] = true
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("port %d is not free: %v", p, err)
		}
		defer l.Close() // held, so that Pick must step around ports in use
	}
}
