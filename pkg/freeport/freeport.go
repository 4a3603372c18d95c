// Package freeport picks loopback TCP ports for processes that a test or the benchmark starts and
// that bind the port themselves.
//
// The usual way, listening on port 0 and closing, returns a port from the kernel's ephemeral range.
// Between the close and the child's bind, any outgoing connection on the machine (the suite's own
// processes open dozens while they start) may be given that port as its source, and the child
// then fails with "address already in use"; the benchmark saw this. Pick therefore takes ports
// below that range, which the kernel never hands out by itself.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// lowest is the first port Pick considers: below it are the well-known and registered ports that
// services on a developer's machine tend to use.
const lowest = 20000

// rangeFile holds the kernel's ephemeral port range ("32768\t60999" by default).
const rangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

var (
	mu     sync.Mutex
	handed = map[int]bool{} // ports Pick has returned, never returned twice
)

// Pick returns a port that is free on 127.0.0.1 now, lies below the kernel's ephemeral range, and
// has not been returned before by this process. Where the range cannot be read (not Linux) or
// leaves no room below it, it falls back to a port the kernel chooses.
func Pick() (int, error) {
	mu.Lock()
	defer mu.Unlock()
	top := ephemeralStart() - 1
	if top-lowest < 1000 {
		return kernelPort()
	}
	for range 200 {
		p := lowest + rand.IntN(top-lowest+1)
		if handed[p] || !bindable(p) {
			continue
		}
		handed[p] = true
		return p, nil
	}
	return 0, errors.New("freeport: no free port found below the ephemeral range")
}

// ephemeralStart returns the first port of the kernel's ephemeral range, or 0 when unknown.
func ephemeralStart() int {
	b, err := os.ReadFile(rangeFile)
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return 0
	}
	n, err := strconv.Atoi(fields[0])
	if err != nil {
		return 0
	}
	return n
}

func bindable(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

func kernelPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("freeport: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
