package analytics_test

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crmsuite/crm/pkg/analytics"
	"github.com/crmsuite/crm/pkg/events"
)

// TestAnalyticsUserReadsOnlyTheMaskedFeed starts a nats-server with deploy/nats/crm-accounts.conf:
// the analytics user reads CRM_ANALYTICS with a durable pull consumer and acknowledges, but can
// neither use CRM_EVENTS nor receive crm.> messages.
func TestAnalyticsUserReadsOnlyTheMaskedFeed(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	conf := filepath.Join(filepath.Dir(file), "..", "..", "deploy", "nats", "crm-accounts.conf")
	t.Setenv("CRM_NATS_PASSWORD", "crm-secret")
	t.Setenv("ANALYTICS_NATS_PASSWORD", "analytics-secret")
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", server.RANDOM_PORT, true, true
	opts.JetStream, opts.StoreDir = true, t.TempDir()
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	connect := func(user, password string) (*nats.Conn, jetstream.JetStream, chan error) {
		t.Helper()
		violations := make(chan error, 10)
		nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo(user, password),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err }))
		if err != nil {
			t.Fatalf("connect as %s: %v", user, err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return nc, js, violations
	}

	// The services' user sets up both streams and publishes on both.
	crmNC, crm, _ := connect("crm", "crm-secret")
	if _, err := events.EnsureStream(ctx, crm, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := events.Ensure(ctx, crm, analytics.Stream(1)); err != nil {
		t.Fatal(err)
	}
	for _, subject := range []string{"crm.customer.customer.created", analytics.SubjectPrefix + "crm.customer.customer.created"} {
		if _, err := crm.Publish(ctx, subject, []byte("event")); err != nil {
			t.Fatal(err)
		}
	}

	nc, js, violations := connect("analytics", "analytics-secret")
	cons, err := js.CreateOrUpdateConsumer(ctx, analytics.StreamName, jetstream.ConsumerConfig{Durable: "bi", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatalf("analytics consumer on %s: %v", analytics.StreamName, err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got int
	for msg := range batch.Messages() {
		if msg.Subject() != "analytics.crm.customer.customer.created" {
			t.Fatalf("got %s", msg.Subject())
		}
		if err := msg.DoubleAck(ctx); err != nil {
			t.Fatalf("ack: %v", err)
		}
		got++
	}
	if got != 1 || batch.Error() != nil {
		t.Fatalf("fetched %d messages, %v", got, batch.Error())
	}

	// Nothing of CRM_EVENTS.
	denied, cancelDenied := context.WithTimeout(ctx, 2*time.Second)
	defer cancelDenied()
	if _, err := js.Stream(denied, events.StreamName); err == nil {
		t.Fatalf("the analytics user reads %s's info", events.StreamName)
	}
	if _, err := js.CreateOrUpdateConsumer(denied, events.StreamName, jetstream.ConsumerConfig{Durable: "bi"}); err == nil {
		t.Fatalf("the analytics user made a consumer on %s", events.StreamName)
	}
	// The refused requests above reported violations of their own; the subscription's comes next.
	time.Sleep(100 * time.Millisecond)
	for len(violations) > 0 {
		<-violations
	}
	received := make(chan *nats.Msg, 1)
	if _, err := nc.ChanSubscribe("crm.>", received); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-violations:
		if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), "Subscription") {
			t.Fatalf("subscribing to crm.>: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscribing to crm.> was not refused")
	}
	if err := crmNC.Publish("crm.customer.customer.updated", []byte("event")); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-received:
		t.Fatalf("the analytics user received %s", msg.Subject)
	case <-time.After(200 * time.Millisecond):
	}
}
