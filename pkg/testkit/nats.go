package testkit

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crmsuite/crm/pkg/events"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
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

// StartEventStream starts an embedded nats-server (StartNATS), connects to it and creates the
// suite's event stream, CRM_EVENTS, for tests that publish and consume change events. The
// connection is closed when the test finishes.
func StartEventStream(tb testing.TB) (*nats.Conn, jetstream.JetStream, jetstream.Stream) {
	tb.Helper()
	nc, err := nats.Connect(StartNATS(tb))
	if err != nil {
		tb.Fatalf("testkit: connect to nats: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("testkit: jetstream: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := events.EnsureStream(ctx, js, 1)
	if err != nil {
		tb.Fatalf("testkit: create the event stream: %v", err)
	}
	return nc, js, stream
}

// PublishEvent publishes ev on the event stream as a service's relay would (events.Message:
// its subject, CloudEvents headers and message id) and waits for the stream's ack.
func PublishEvent(tb testing.TB, js jetstream.JetStream, ev *eventsv1.Event) {
	tb.Helper()
	msg, err := events.Message(ev)
	if err != nil {
		tb.Fatalf("testkit: event message: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		tb.Fatalf("testkit: publish %s: %v", ev.GetType(), err)
	}
}
