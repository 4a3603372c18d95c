package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crmsuite/crm/deploy/bench/internal/load"
	"github.com/crmsuite/crm/deploy/bench/internal/scenario"
)

// profilePhase is a load under which CPU profiles of some processes are taken.
type profilePhase struct {
	key, title string
	procs      []string
	run        func(ctx context.Context, d time.Duration)
}

// profiles takes CPU profiles of the busiest processes under three loads (gRPC creates at full
// speed, REST reads at 1,000/s, an import of 100,000 customers and the fan-out of its events) and
// summarises where their CPU goes.
func (h *harness) profiles(ctx context.Context) error {
	dir := filepath.Join(h.o.work, "profiles")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	phases := []profilePhase{
		{"create", "gRPC creates, 32 workers", []string{"customer", "audit", "followup", "nats"},
			func(ctx context.Context, d time.Duration) { load.Closed(ctx, 32, d, h.env.CreateGRPC()) }},
		{"create-rest", "REST creates, 32 workers", []string{"gateway", "customer"},
			func(ctx context.Context, d time.Duration) { load.Closed(ctx, 32, d, h.env.CreateREST()) }},
		{"get-rest", "REST gets, 1000/s", []string{"gateway", "customer"},
			func(ctx context.Context, d time.Duration) { load.Open(ctx, 1000, d, 512, h.env.GetREST()) }},
		// The import's own work and its 100,000 customer.created events reaching the consumers; the
		// file's customers are new (the transfer scenario imported the first 100,000).
		{"import", "an import of 100,000 customers", []string{"customer", "audit", "tagging", "followup", "nats"},
			func(ctx context.Context, _ time.Duration) {
				file, err := scenario.ImportCSV(h.layout, importRows, importRows)
				if err == nil {
					_, err = h.env.ImportFile(ctx, file)
				}
				if err != nil {
					h.log.Warn("import under profiling", "error", err)
				}
			}},
	}
	const seconds = 15
	for _, ph := range phases {
		h.settle(ctx)
		h.log.Info("profiling", "load", ph.title, "processes", ph.procs)
		var wg sync.WaitGroup
		wg.Go(func() { ph.run(ctx, (seconds+5)*time.Second) })
		if err := wait(ctx, 3*time.Second); err != nil {
			return err
		}
		var pw sync.WaitGroup
		files := make([]string, len(ph.procs))
		errs := make([]error, len(ph.procs))
		for i, name := range ph.procs {
			p := h.suite.Proc(name)
			files[i] = filepath.Join(dir, fmt.Sprintf("%s-%s.pb.gz", ph.key, name))
			pw.Go(func() { errs[i] = p.Profile(ctx, seconds, files[i]) })
		}
		pw.Wait()
		wg.Wait()
		for i, name := range ph.procs {
			if errs[i] != nil {
				h.log.Warn("profile", "process", name, "error", errs[i])
				continue
			}
			h.results.Profiles = append(h.results.Profiles, summarise(name, ph.title, files[i], seconds, h.o.root))
		}
	}
	h.results.Profiles = append(h.results.Profiles, "Profiles are in .data/bench/profiles/ (`go tool pprof -http=: <file>`).")
	return nil
}

// categories attribute each profile sample to one place, so that shares add up to 100%: samples
// in the kernel (system calls) and in the Go scheduler and background GC count as such; every
// other sample counts under the innermost frame of its stack that belongs to a known library
// (runtime frames such as malloc are skipped, so an allocation counts for whoever allocates).
var categories = []struct {
	name string
	re   *regexp.Regexp
}{
	{"OpenTelemetry", regexp.MustCompile(`^go\.opentelemetry\.io/`)},
	{"logging (slog)", regexp.MustCompile(`^log/slog\.`)},
	{"JWT verification", regexp.MustCompile(`golang-jwt|crm/pkg/authn\.`)},
	{"JSON (protojson, encoding/json)", regexp.MustCompile(`protojson|^encoding/json`)},
	{"protobuf", regexp.MustCompile(`^google\.golang\.org/protobuf/`)},
	{"pgx (PostgreSQL client)", regexp.MustCompile(`^github\.com/jackc/`)},
	{"gRPC", regexp.MustCompile(`^google\.golang\.org/grpc|^golang\.org/x/net/http2`)},
	{"net/http", regexp.MustCompile(`^net/http\.|^net/textproto`)},
	{"NATS client", regexp.MustCompile(`^github\.com/nats-io/nats\.go`)},
	{"NATS server: JetStream store", regexp.MustCompile(`nats-server/v2/server\.\(\*(fileStore|msgBlock)`)},
	{"NATS server: JetStream consumers and streams", regexp.MustCompile(`nats-server/v2/server\.\(\*(consumer|stream|jetStream)`)},
	{"NATS server: client connections", regexp.MustCompile(`^github\.com/nats-io/nats-server`)},
	{"crypto (SHA-256, HMAC)", regexp.MustCompile(`^crypto/`)},
	{"grpc-gateway", regexp.MustCompile(`grpc-ecosystem/grpc-gateway`)},
	{"CRM code", regexp.MustCompile(`^github\.com/crmsuite/`)},
}

var (
	syscallFrame   = regexp.MustCompile(`^(syscall\.|internal/runtime/syscall|runtime\.(futex|usleep|madvise|epollwait|netpollblock)|internal/poll\.)`)
	schedulerFrame = regexp.MustCompile(`^runtime\.(schedule|findRunnable|park_m|mcall|gosched_m|stealWork|netpoll)`)
	gcFrame        = regexp.MustCompile(`^runtime\.(gcBgMarkWorker|bgsweep|bgscavenge|gcDrain)`)
	runtimeFrame   = regexp.MustCompile(`^(runtime\.|internal/|sync\.|reflect\.|strconv\.|strings\.|bytes\.|unicode|math|sort\.|slices\.|maps\.|fmt\.|time\.|context\.|io\.|bufio\.|errors\.|aeshash|memeqbody|indexbytebody|cmpbody|gogo|goexit)`)
)

// categorise names where one stack's time goes (frames leaf first).
func categorise(frames []string) string {
	for _, f := range frames {
		switch {
		case syscallFrame.MatchString(f):
			return "system calls (network and file I/O, futex)"
		case gcFrame.MatchString(f):
			return "garbage collector (background)"
		case schedulerFrame.MatchString(f):
			return "Go scheduler"
		case runtimeFrame.MatchString(f):
			continue
		}
		for _, c := range categories {
			if c.re.MatchString(f) {
				return c.name
			}
		}
		return "other: " + f
	}
	return "Go runtime"
}

// summarise renders one profile: total CPU, the categories' shares and the top functions.
func summarise(proc, load, file string, seconds int, root string) string {
	traces, err := goTool(root, "pprof", "-traces", file)
	if err != nil {
		return fmt.Sprintf("**%s** under %s: could not read the profile: %v", proc, load, err)
	}
	total, shares := share(traces)
	var parts []string
	type kv struct {
		k string
		v float64
	}
	var list []kv
	for k, v := range shares {
		if v >= 0.01 {
			list = append(list, kv{k, v})
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].v > list[j].v })
	for _, x := range list {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", x.k, 100*x.v))
	}
	top, _ := goTool(root, "pprof", "-top", "-nodecount=15", file)
	top = trimTop(top)
	return fmt.Sprintf("**%s** under %s: %.1f s of CPU in %d s (%.0f%% of one core). Where it goes (each sample "+
		"counted once, under the innermost library on its stack; allocations count for the allocating code): %s.\n\n<details><summary>top functions (flat)</summary>\n\n```\n%s\n```\n</details>",
		proc, load, total.Seconds(), seconds, 100*total.Seconds()/float64(seconds), strings.Join(parts, ", "), top)
}

// share parses `go tool pprof -traces` output (blocks of frames, leaf first, separated by dashed
// lines, the first line of each block starting with its sample value) and returns the total and
// each category's share.
func share(out string) (time.Duration, map[string]float64) {
	sums := map[string]time.Duration{}
	var total, value time.Duration
	var frames []string
	flush := func() {
		if value == 0 {
			return
		}
		total += value
		c := categorise(frames)
		if strings.HasPrefix(c, "other: ") {
			c = "other"
		}
		sums[c] += value
		value, frames = 0, nil
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "-----") {
			flush()
			continue
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if d, ok := parseDur(fields[0]); ok && len(fields) >= 2 {
			flush()
			value = d
			frames = append(frames, fields[1])
			continue
		}
		if value > 0 {
			frames = append(frames, fields[0])
		}
	}
	flush()
	shares := map[string]float64{}
	for k, v := range sums {
		if total > 0 {
			shares[k] = float64(v) / float64(total)
		}
	}
	return total, shares
}

var durRe = regexp.MustCompile(`^([0-9.]+)(ns|us|µs|ms|s|min|hrs)$`)

func parseDur(s string) (time.Duration, bool) {
	m := durRe.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	unit := map[string]time.Duration{"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond,
		"ms": time.Millisecond, "s": time.Second, "min": time.Minute, "hrs": time.Hour}[m[2]]
	return time.Duration(v * float64(unit)), true
}

// trimTop keeps the table of `pprof -top` (from its "flat" header).
func trimTop(s string) string {
	if i := strings.Index(s, "      flat"); i >= 0 {
		return s[i:]
	}
	return s
}

func goTool(root string, args ...string) (string, error) {
	cmd := exec.Command("go", append([]string{"tool"}, args...)...)
	cmd.Dir = root
	out, err := cmd.Output()
	return string(out), err
}
