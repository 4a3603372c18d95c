// Package suite builds and runs the CRM for a benchmark: the service binaries and the gateway
// (as `make run` builds them), a nats-server with JetStream of its own, each a child process whose
// pid is known, so that its CPU time can be read from /proc, and its Go profiles fetched when it
// serves them (PPROF_ADDR).
//
// It starts processes on loopback addresses only and stops every process it started.
package suite

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/crmsuite/crm/pkg/freeport"
)

// Services are the service binaries in start order; each listens on <NAME>_GRPC_ADDR.
var Services = []string{"audit", "customer", "followup", "needs", "tagging", "feedback"}

// pprofOverlay is the file Build adds to main packages that do not serve profiles yet.
//
//go:embed pprof_overlay.go.txt
var pprofOverlay []byte

// Build compiles the services and the gateway from the repository at root into dir. With pprof
// set, every main package that does not call grpcx.ServePprof yet gets an extra file through
// `go build -overlay` that does (serving net/http/pprof on PPROF_ADDR); the repository's files
// are not touched.
func Build(ctx context.Context, root, dir string, pprof bool) error {
	pkgs := []string{"./gateway/cmd/gateway"}
	for _, s := range Services {
		pkgs = append(pkgs, "./services/"+s+"/cmd/"+s)
	}
	args := []string{"build", "-o", dir + "/"}
	if pprof {
		src := filepath.Join(dir, "pprof_overlay.go")
		if err := os.WriteFile(src, pprofOverlay, 0o644); err != nil {
			return err
		}
		overlay, err := writeOverlay(root, dir, src, pkgs)
		if err != nil {
			return err
		}
		if overlay != "" {
			args = append(args, "-overlay", overlay)
		}
	}
	cmd := exec.CommandContext(ctx, "go", append(args, pkgs...)...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	return nil
}

// writeOverlay maps a pprof file into every main package that does not call ServePprof yet and
// returns the overlay file's path ("" when no package needs it).
func writeOverlay(root, dir, src string, pkgs []string) (string, error) {
	replace := map[string]string{}
	for _, p := range pkgs {
		mainDir := filepath.Join(root, p)
		calls, err := callsServePprof(mainDir)
		if err != nil {
			return "", err
		}
		if !calls {
			replace[filepath.Join(mainDir, "zz_bench_pprof.go")] = src
		}
	}
	if len(replace) == 0 {
		return "", nil
	}
	b, err := json.Marshal(map[string]any{"Replace": replace})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "pprof-overlay.json")
	return path, os.WriteFile(path, b, 0o644)
}

// callsServePprof reports whether the main package in dir serves profiles already: itself, or
// through pkg/service (whose Main the services call) once that calls grpcx.ServePprof.
func callsServePprof(dir string) (bool, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return false, err
	}
	root := filepath.Join(dir, "..", "..", "..", "..")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return false, err
		}
		src := string(b)
		if strings.Contains(src, "ServePprof(") {
			return true, nil
		}
		if strings.Contains(src, `"github.com/crmsuite/crm/pkg/service"`) {
			svc, err := os.ReadFile(filepath.Join(root, "pkg", "service", "service.go"))
			if err == nil && strings.Contains(string(svc), "ServePprof(") {
				return true, nil
			}
		}
	}
	return false, nil
}

// Config says how to run the suite.
type Config struct {
	BinDir      string // the built binaries
	NATSServer  string // the nats-server binary
	DatabaseURL string // the benchmark database
	Secret      string // AUTH_HS256_SECRET
	LogDir      string // <name>.log of every process
	// Pprof gives every Go process a PPROF_ADDR on loopback.
	Pprof bool
	// Env is added to every service's environment (LOG_LEVEL, …).
	Env []string
}

// Proc is one running process of the suite.
type Proc struct {
	Name      string
	Pid       int
	Addr      string // gRPC or HTTP address it serves
	PprofAddr string // "" when it serves no profiles
	cmd       *exec.Cmd
	log       *os.File
	done      chan struct{} // closed when the process has exited and been reaped
}

// Suite is a running copy of the CRM.
type Suite struct {
	Procs      []*Proc // nats first, then the services in start order, the gateway last
	GatewayURL string
	NATSURL    string
	natsDir    string
}

// Start starts nats-server, the services and the gateway, and waits until the gateway reports
// ready (every service healthy). On failure it stops what it started.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (_ *Suite, err error) {
	s := &Suite{}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
		return nil, err
	}
	natsPort, err := freeport.Pick()
	if err != nil {
		return nil, err
	}
	s.natsDir, err = os.MkdirTemp("", "crm-bench-nats")
	if err != nil {
		return nil, err
	}
	s.NATSURL = fmt.Sprintf("nats://127.0.0.1:%d", natsPort)
	natsArgs := []string{"-a", "127.0.0.1", "-p", fmt.Sprint(natsPort), "-js", "-sd", s.natsDir}
	var natsProfile string
	if cfg.Pprof {
		port, err := freeport.Pick()
		if err != nil {
			return nil, err
		}
		natsProfile = fmt.Sprintf("127.0.0.1:%d", port)
		natsArgs = append(natsArgs, "--profile", fmt.Sprint(port))
	}
	nats, err := startProc(ctx, "nats", cfg.NATSServer, natsArgs, os.Environ(), cfg.LogDir)
	if err != nil {
		return nil, err
	}
	nats.Addr, nats.PprofAddr = s.NATSURL, natsProfile
	s.Procs = append(s.Procs, nats)
	if err := waitTCP(ctx, fmt.Sprintf("127.0.0.1:%d", natsPort), 30*time.Second); err != nil {
		return nil, fmt.Errorf("nats-server: %w", err)
	}

	httpPort, err := freeport.Pick()
	if err != nil {
		return nil, err
	}
	s.GatewayURL = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	env := append(os.Environ(),
		"DATABASE_URL="+cfg.DatabaseURL,
		"NATS_URL="+s.NATSURL,
		"NATS_REPLICAS=1",
		"AUTH_HS256_SECRET="+cfg.Secret,
		"AUTH_ISSUER=crm-dev",
		"AUTH_AUDIENCE=crm",
		"DEV_AUTH=true",
		fmt.Sprintf("GATEWAY_HTTP_ADDR=127.0.0.1:%d", httpPort),
	)
	env = append(env, cfg.Env...)
	addrs := map[string]string{}
	for _, name := range Services {
		port, err := freeport.Pick()
		if err != nil {
			return nil, err
		}
		addrs[name] = fmt.Sprintf("127.0.0.1:%d", port)
		env = append(env, fmt.Sprintf("%s_GRPC_ADDR=%s", strings.ToUpper(name), addrs[name]))
	}
	addrs["gateway"] = fmt.Sprintf("127.0.0.1:%d", httpPort)
	for _, name := range append(Services, "gateway") {
		penv := env
		var pprofAddr string
		if cfg.Pprof {
			port, err := freeport.Pick()
			if err != nil {
				return nil, err
			}
			pprofAddr = fmt.Sprintf("127.0.0.1:%d", port)
			penv = append(append([]string(nil), env...), "PPROF_ADDR="+pprofAddr)
		}
		p, err := startProc(ctx, name, filepath.Join(cfg.BinDir, name), nil, penv, cfg.LogDir)
		if err != nil {
			return nil, err
		}
		p.Addr, p.PprofAddr = addrs[name], pprofAddr
		s.Procs = append(s.Procs, p)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		for _, p := range s.Procs {
			if p.exited() {
				return nil, fmt.Errorf("%s exited during start-up; see %s", p.Name, filepath.Join(cfg.LogDir, p.Name+".log"))
			}
		}
		resp, err := http.Get(s.GatewayURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				log.Info("suite ready", "gateway", s.GatewayURL, "nats", s.NATSURL)
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("suite not ready after 90s (last: %v)", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Proc returns the named process (nats, audit, customer, …, gateway).
func (s *Suite) Proc(name string) *Proc {
	for _, p := range s.Procs {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Stop stops every process, newest first: SIGTERM, then SIGKILL after 15 s.
func (s *Suite) Stop() {
	for i := len(s.Procs) - 1; i >= 0; i-- {
		s.Procs[i].stop()
	}
	s.Procs = nil
	if s.natsDir != "" {
		_ = os.RemoveAll(s.natsDir)
	}
}

func startProc(ctx context.Context, name, bin string, args, env []string, logDir string) (*Proc, error) {
	f, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	// A process group of its own: a Ctrl-C to the harness reaches the harness, which stops the
	// suite in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, Pid: cmd.Process.Pid, cmd: cmd, log: f, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *Proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *Proc) stop() {
	defer p.log.Close()
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Profile fetches a CPU profile of seconds from the process into file.
func (p *Proc) Profile(ctx context.Context, seconds int, file string) error {
	if p.PprofAddr == "" {
		return fmt.Errorf("%s serves no profiles", p.Name)
	}
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.PprofAddr, seconds)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile %s: %w", p.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
		return fmt.Errorf("profile %s: %s: %s", p.Name, resp.Status, b)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func waitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
