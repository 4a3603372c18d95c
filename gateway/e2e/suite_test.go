// Package e2e tests the suite end to end: the real binaries of the services and the gateway,
// started as processes against a fresh PostgreSQL database and an embedded NATS JetStream, driven
// over REST as a web client would.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmsuite/crm/pkg/freeport"
	"github.com/crmsuite/crm/pkg/testkit"
)

// services are the service binaries, in start order; each listens on <NAME>_GRPC_ADDR.
var services = []string{"audit", "customer", "followup", "needs", "tagging", "feedback"}

// binaries are built once per test run.
var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func build(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "crm-e2e-bin")
		if buildErr != nil {
			return
		}
		args := []string{"build", "-o", binDir + "/", "github.com/crmsuite/crm/gateway/cmd/gateway"}
		for _, name := range services {
			args = append(args, "github.com/crmsuite/crm/services/"+name+"/cmd/"+name)
		}
		cmd := exec.Command("go", args...)
		cmd.Stderr = os.Stderr
		buildErr = cmd.Run()
	})
	if buildErr != nil {
		t.Fatalf("build binaries: %v", buildErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// freePort picks a port for a process the test starts (freeport says why not port 0).
func freePort(t *testing.T) int {
	t.Helper()
	p, err := freeport.Pick()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// suite is one running copy of the CRM.
type suite struct {
	base string
	env  []string
	bin  string
	logs string
}

const secret = "e2e-secret-e2e-secret-e2e-secret-0123"

// startSuite starts audit, customer and gateway against a new database and the given NATS URL.
func startSuite(t *testing.T, natsURL string) *suite {
	t.Helper()
	bin := build(t)
	httpPort := freePort(t)
	s := &suite{
		base: fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		bin:  bin,
		logs: t.TempDir(),
		env: append(os.Environ(),
			"DATABASE_URL="+testkit.NewDatabase(t),
			"NATS_URL="+natsURL,
			"AUTH_HS256_SECRET="+secret,
			"DEV_AUTH=true",
			"LOG_LEVEL=warn",
			fmt.Sprintf("GATEWAY_HTTP_ADDR=127.0.0.1:%d", httpPort),
		),
	}
	for _, name := range services {
		s.env = append(s.env, fmt.Sprintf("%s_GRPC_ADDR=127.0.0.1:%d", strings.ToUpper(name), freePort(t)))
	}
	// Registered first, so it runs last: after every process has stopped and flushed its log.
	t.Cleanup(func() {
		if t.Failed() {
			s.dumpLogs(t)
		}
	})
	for _, name := range append(services, "gateway") {
		s.start(t, name)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("suite not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *suite) start(t *testing.T, name string) {
	t.Helper()
	logFile, err := os.Create(filepath.Join(s.logs, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(s.bin, name))
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logFile.Close()
	})
}

func (s *suite) dumpLogs(t *testing.T) {
	for _, name := range append(services, "gateway") {
		b, _ := os.ReadFile(filepath.Join(s.logs, name+".log"))
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		t.Logf("--- %s log (tail)\n%s", name, b)
	}
}

// token asks the gateway's dev-token endpoint for a token.
func (s *suite) token(t *testing.T, user, team string, roles ...string) string {
	t.Helper()
	var out struct{ Token string }
	s.do(t, "", http.MethodPost, "/v1/auth/dev-token", map[string]any{"userId": user, "name": user, "roles": roles, "team": team}, http.StatusOK, &out)
	if out.Token == "" {
		t.Fatal("no token")
	}
	return out.Token
}

// do sends a JSON request and decodes the JSON answer into out, failing unless the status is want.
func (s *suite) do(t *testing.T, token, method, path string, body any, want int, out any, headers ...string) http.Header {
	t.Helper()
	req := s.request(t, token, method, path, body)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return resp.Header
}

// request builds a JSON request with the bearer token (none when empty).
func (s *suite) request(t *testing.T, token, method, path string, body any) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, s.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

// waitFor polls until cond holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// customerJSON builds a valid REST body for a new customer; n varies name and mobile.
func customerJSON(n int) map[string]any {
	return map[string]any{
		"name":        "成都" + strconv.Itoa(n) + "号软件科技有限公司",
		"type":        "CUSTOMER_TYPE_ENTERPRISE",
		"industry":    "I65",
		"contactName": "刘洋",
		"mobile":      fmt.Sprintf("186%08d", n),
		"address":     map[string]any{"province": "四川", "city": "成都市", "district": "高新区"},
		"scale":       "SCALE_51_TO_200",
	}
}
