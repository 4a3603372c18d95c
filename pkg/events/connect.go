package events

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Connect opens the NATS connection a service keeps for its lifetime. It does not fail when
// NATS is down at start-up: the connection keeps retrying in the background, the outbox holds
// events meanwhile, and consumers resume when it answers.
func Connect(url, name string, log *slog.Logger) (*nats.Conn, error) {
	nc, err := nats.Connect(url,
		nats.Name("crm-"+name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrlRedacted()) }),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to nats: %w", err)
	}
	return nc, nil
}

// EnsureStreamRetry is EnsureStream retried with back-off while NATS does not answer, so a
// service can start before NATS does. It returns when the stream exists or ctx is done.
func EnsureStreamRetry(ctx context.Context, js jetstream.JetStream, replicas int, log *slog.Logger) error {
	return EnsureRetry(ctx, js, crmEvents(replicas), log)
}

// EnsureRetry is Ensure retried with back-off while NATS does not answer. It returns when the
// stream exists or ctx is done.
func EnsureRetry(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig, log *slog.Logger) error {
	delay := 500 * time.Millisecond
	for {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := Ensure(sctx, js, want)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Warn("event stream not ready; retrying", "stream", want.Name, "error", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 10*time.Second)
	}
}
