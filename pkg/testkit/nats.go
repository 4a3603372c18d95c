package testkit

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// StartNATS starts an embedded nats-server with JetStream on 127.0.0.1 and a random port, storing
// streams under tb.TempDir(), and returns its client URL. The server is shut down when the test
// finishes.
func StartNATS(tb testing.TB) string {
	tb.Helper()
	return StartNATSAt(tb, 0, "").ClientURL()
}

// StartNATSAt starts an embedded nats-server with JetStream on 127.0.0.1:port (0 picks a free
// port) storing streams in storeDir ("" means a new tb.TempDir()), and returns the running server.
// Outage tests call Shutdown on it and later start another on the same port and store dir, which
// finds the same streams and messages. Every server started here is shut down when the test
// finishes.
func StartNATSAt(tb testing.TB, port int, storeDir string) *server.Server {
	tb.Helper()
	if port == 0 {
		// Port 0 means "the default 4222" to nats-server; RANDOM_PORT asks the kernel for one.
		port = server.RANDOM_PORT
	}
	if storeDir == "" {
		storeDir = tb.TempDir()
	}
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		JetStream: true,
		StoreDir:  storeDir,
		NoLog:     true,
		NoSigs:    true,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		tb.Fatalf("testkit: configure nats-server: %v", err)
	}
	s.Start()
	tb.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	if !s.ReadyForConnections(10 * time.Second) {
		tb.Fatalf("testkit: nats-server on 127.0.0.1:%d did not become ready in 10s", port)
	}
	return s
}
