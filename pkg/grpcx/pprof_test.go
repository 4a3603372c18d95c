package grpcx

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestServePprofRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, addr, wantErr string
	}{
		{"off when empty", "", ""},
		{"all interfaces", ":6060", "only loopback"},
		{"wildcard", "0.0.0.0:6060", "only loopback"},
		{"a host name", "example.com:6060", "only loopback"},
		{"no port", "127.0.0.1", "missing port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := ServePprof(ctx, tt.addr, slog.New(slog.DiscardHandler))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("ServePprof(%q) = %v, want nil at once", tt.addr, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("ServePprof(%q) = %v, want an error containing %q", tt.addr, err, tt.wantErr)
			}
		})
	}
}

func TestServePprofServesUntilCancelled(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServePprof(ctx, addr, slog.New(slog.DiscardHandler)) }()

	get := func(path string) (int, string) {
		t.Helper()
		var resp *http.Response
		var err error
		for range 50 { // the listener may not be up yet
			resp, err = http.Get("http://" + addr + path)
			if err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Fatalf("index: %d %.200s", code, body)
	}
	if code, _ := get("/debug/pprof/heap"); code != http.StatusOK {
		t.Fatalf("heap: %d", code)
	}
	if code, _ := get("/debug/vars"); code != http.StatusNotFound {
		t.Fatalf("/debug/vars: %d, want 404 (own mux, nothing else exposed)", code)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServePprof did not return after cancel")
	}
	if _, err := http.Get("http://" + addr + "/debug/pprof/"); err == nil {
		t.Fatal("still serving after cancel")
	}
}

func TestServePprofPortTaken(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = ServePprof(context.Background(), l.Addr().String(), nil)
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("ServePprof on a taken port = %v, want a listen error", err)
	}
}
