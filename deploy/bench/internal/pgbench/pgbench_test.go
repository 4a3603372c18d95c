package pgbench

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmsuite/crm/pkg/testkit"
)

func TestReadLogs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prefix := filepath.Join(dir, "get-log")
	// client_id transaction_no time script_no time_epoch time_us [schedule_lag]
	files := map[string]string{
		prefix + ".100":   "0 0 1500 0 1700000000 1 200\n0 1 2500 0 1700000000 2 0\n",
		prefix + ".100.1": "1 0 failed 0 1700000000 3 0\n1 1 500 0 1700000000 4 100\n",
	}
	for name, body := range files {
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := readLogs(prefix, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{600 * time.Microsecond, 1700 * time.Microsecond, 2500 * time.Microsecond}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v (lag added when throttled, failed skipped, sorted)", got, want)
		}
	}
	if left, _ := filepath.Glob(prefix + ".*"); len(left) != 0 {
		t.Fatalf("logs not removed: %v", left)
	}
	r := Result{Latencies: got}
	if r.Percentile(0.5) != 1700*time.Microsecond {
		t.Fatalf("p50 %v", r.Percentile(0.5))
	}
}

// tlsScript fails its transaction when the connection runs over TLS.
const tlsScript = `SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false) AS tls \gset
\if :tls
SELECT 1 / 0;
\endif
`

// The limit must pay for TLS exactly when the services do: their URL says sslmode=disable, and
// pgbench (libpq, sslmode=prefer by default) used TLS on a server that offers it.
func TestExecUsesTheSSLModeOfTheServerURL(t *testing.T) {
	bin, err := Find()
	if err != nil {
		t.Skipf("pgbench is not installed (deploy/bench/bench.sh installs it): %v", err)
	}
	u, err := url.Parse(testkit.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	run := func(sslmode string) (Result, error) {
		server := *u
		q := server.Query()
		q.Set("sslmode", sslmode)
		server.RawQuery = q.Encode()
		r := Run{Binary: bin, Server: &server, DB: strings.TrimPrefix(u.Path, "/"), SearchPath: "public", Script: tlsScript,
			Clients: 1, Duration: time.Second, WorkDir: t.TempDir(), Name: "tls"}
		return r.Exec(context.Background())
	}
	res, err := run("disable")
	if err != nil {
		t.Fatalf("sslmode=disable: %v", err)
	}
	if res.Transactions == 0 || res.Failed != 0 {
		t.Fatalf("sslmode=disable: %d transactions, %d failed", res.Transactions, res.Failed)
	}
	if !strings.HasPrefix(res.Command, "PGSSLMODE=disable ") {
		t.Fatalf("the command shown does not say the sslmode: %s", res.Command)
	}

	// The script itself must see TLS where there is some, or the check above proves nothing.
	conn, err := pgx.Connect(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	var ssl string
	err = conn.QueryRow(context.Background(), "SHOW ssl").Scan(&ssl)
	conn.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ssl != "on" {
		t.Log("the server offers no TLS: only sslmode=disable checked")
		return
	}
	if _, err := run("require"); err == nil || !strings.Contains(err.Error(), "division by zero") {
		t.Fatalf("sslmode=require: want the script to fail on TLS, got %v", err)
	}
}
