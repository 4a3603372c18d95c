package testkit

import (
	"context"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestDatabaseName(t *testing.T) {
	t.Parallel()
	valid := regexp.MustCompile(`^crmtest_[a-z0-9_]+_[0-9a-f]{16}$`)
	tests := []struct {
		pkg        string
		wantPrefix string
	}{
		{pkg: "store", wantPrefix: "crmtest_store_"},
		{pkg: "Customer-Store", wantPrefix: "crmtest_customer_store_"},
		{pkg: "---", wantPrefix: "crmtest_x_"},
		{pkg: strings.Repeat("abcdefghij", 10), wantPrefix: "crmtest_abcdefghijabcdefghijabcd_"},
	}
	for _, tc := range tests {
		t.Run(tc.pkg, func(t *testing.T) {
			t.Parallel()
			got, err := databaseName(tc.pkg)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(got, tc.wantPrefix) || !valid.MatchString(got) || len(got) > 63 {
				t.Fatalf("databaseName(%q) = %q, want prefix %q, [a-z0-9_], ≤ 63 bytes", tc.pkg, got, tc.wantPrefix)
			}
		})
	}
}

// databaseExists asks the admin database whether name exists.
func databaseExists(t *testing.T, name string) bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	return exists
}

func TestNewDatabaseCreatesAndDrops(t *testing.T) {
	t.Parallel()
	var name string
	t.Run("use", func(t *testing.T) {
		url := NewDatabase(t)
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatalf("connect to new database: %v", err)
		}
		// Left open on purpose: the drop must end sessions still connected.
		if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(name, "crmtest_testkit_") {
			t.Errorf("database name %q does not start with crmtest_testkit_", name)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE t (id int)"); err != nil {
			t.Fatal(err)
		}
	})
	if name == "" {
		t.Fatal("subtest did not report the database name")
	}
	if databaseExists(t, name) {
		t.Fatalf("database %s still exists after the test finished", name)
	}
}

func TestCreateDatabaseForTestMain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, drop, err := CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	var name string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if !databaseExists(t, name) {
		t.Fatalf("database %s missing before drop", name)
	}
	drop()
	if databaseExists(t, name) {
		t.Fatalf("database %s still exists after drop", name)
	}
}

func TestCreateDatabaseReportsUnreachableServer(t *testing.T) {
	// t.Setenv: not parallel.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	t.Setenv("CRM_TEST_DATABASE_URL", "postgres://postgres:hunter2@"+addr+"/postgres?sslmode=disable&connect_timeout=2")
	_, _, err = CreateDatabase(context.Background())
	if err == nil {
		t.Fatal("CreateDatabase succeeded against a closed port")
	}
	msg := err.Error()
	if !strings.Contains(msg, "does not answer") || !strings.Contains(msg, "ensure-postgres.sh") {
		t.Errorf("error does not say what to do: %v", err)
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("error leaks the password: %v", err)
	}
}

func TestStartNATSJetStreamAnswers(t *testing.T) {
	t.Parallel()
	nc, err := nats.Connect(StartNATS(t))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		t.Fatalf("JetStream AccountInfo: %v", err)
	}
}

func TestStartNATSAtRestartKeepsStreams(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := StartNATSAt(t, 0, dir)
	port := s.Addr().(*net.TCPAddr).Port
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "t.a", []byte("before outage")); err != nil {
		t.Fatal(err)
	}

	s.Shutdown()
	s.WaitForShutdown()
	// The client buffers while reconnecting, so the publish fails by its deadline, not at once.
	outageCtx, outageCancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = js.Publish(outageCtx, "t.a", []byte("during outage"), jetstream.WithRetryAttempts(0))
	outageCancel()
	if err == nil {
		t.Fatal("publish succeeded while the server was down")
	}

	s2 := StartNATSAt(t, port, dir)
	if got := s2.Addr().(*net.TCPAddr).Port; got != port {
		t.Fatalf("restarted on port %d, want %d", got, port)
	}
	stream, err := js.Stream(ctx, "T")
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	msg, err := stream.GetMsg(ctx, 1)
	if err != nil {
		t.Fatalf("message after restart: %v", err)
	}
	if string(msg.Data) != "before outage" {
		t.Fatalf("message after restart = %q", msg.Data)
	}
}
