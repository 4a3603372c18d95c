// Package pgbench runs PostgreSQL's own benchmark tool on a custom script: the SQL that a scenario
// sends, without the services around it, which is the database's speed for that work on this
// machine — the limit each scenario is compared with.
//
// It runs the pgbench binary and parses its report and its per-transaction log.
package pgbench

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmsuite/crm/pkg/pgdb"
)

// Run is one pgbench run.
type Run struct {
	Binary string // pgbench
	// Server is the URL the services connect with (its database is not used): pgbench connects
	// to the same host and port as the same user, with the same password and sslmode, so that
	// the limit pays for TLS exactly when the suite does (libpq's default, "prefer", uses TLS
	// whenever the server offers it; pgx's URLs here say sslmode=disable).
	Server *url.URL
	DB     string
	// SearchPath is the schema the script's unqualified names live in (as the service's pool has it).
	SearchPath string
	Script     string // the script's text
	Clients    int
	Threads    int
	Duration   time.Duration
	// Rate, when above 0, throttles to that many transactions per second (open model, like
	// load.Open); latencies then include the schedule lag.
	Rate float64
	// Mode is pgbench's query mode: "prepared" (default; named prepared statements, as pgx
	// caches them) or "extended" (an unnamed statement planned for each execution's values).
	Mode string
	// Vars are set in every client before its first transaction (-D name=value).
	Vars map[string]string
	// WorkDir holds the script and the transaction logs.
	WorkDir string
	// Name names the files.
	Name string
}

// Result is what pgbench reported.
type Result struct {
	TPS          float64
	Transactions int
	Failed       int
	// Latencies of every transaction from the per-transaction log, sorted ascending.
	Latencies []time.Duration
	Command   string
}

// Percentile returns the latency below which the fraction p of transactions finished.
func (r Result) Percentile(p float64) time.Duration {
	n := len(r.Latencies)
	if n == 0 {
		return 0
	}
	i := int(float64(n)*p+0.999999) - 1
	return r.Latencies[min(max(i, 0), n-1)]
}

var (
	tpsLine    = regexp.MustCompile(`(?m)^tps = ([0-9.]+)`)
	txLine     = regexp.MustCompile(`(?m)^number of transactions actually processed: (\d+)`)
	failedLine = regexp.MustCompile(`(?m)^number of failed transactions: (\d+)`)
)

// Exec runs pgbench and returns its figures.
func (r Run) Exec(ctx context.Context) (Result, error) {
	if err := os.MkdirAll(r.WorkDir, 0o755); err != nil {
		return Result{}, err
	}
	script := filepath.Join(r.WorkDir, r.Name+".sql")
	if err := os.WriteFile(script, []byte(r.Script), 0o644); err != nil {
		return Result{}, err
	}
	prefix := filepath.Join(r.WorkDir, r.Name+"-log")
	old, _ := filepath.Glob(prefix + ".*")
	for _, f := range old {
		_ = os.Remove(f)
	}
	threads := max(r.Threads, 1)
	mode := r.Mode
	if mode == "" {
		mode = "prepared"
	}
	port := r.Server.Port()
	if port == "" {
		port = "5432"
	}
	args := []string{"-n", "-M", mode, "-h", r.Server.Hostname(), "-p", port, "-U", r.Server.User.Username(),
		"-c", strconv.Itoa(r.Clients), "-j", strconv.Itoa(min(threads, r.Clients)),
		"-T", strconv.Itoa(int(r.Duration.Seconds())), "-f", script,
		"-l", "--log-prefix=" + prefix}
	for _, k := range slices.Sorted(maps.Keys(r.Vars)) {
		args = append(args, "-D", k+"="+r.Vars[k])
	}
	if r.Rate > 0 {
		args = append(args, "-R", strconv.FormatFloat(r.Rate, 'f', 0, 64))
	}
	args = append(args, r.DB)
	cmd := exec.CommandContext(ctx, r.Binary, args...)
	// The services' connections run with pgdb's setting of parallel workers; so does pgbench, or
	// the limit would run other plans than the suite.
	options := "-c search_path=" + r.SearchPath + ",public -c max_parallel_workers_per_gather=" + pgdb.DefaultParallelWorkers
	cmd.Env = append(os.Environ(), "PGOPTIONS="+options)
	shown := "PGOPTIONS='" + options + "' "
	if mode := r.Server.Query().Get("sslmode"); mode != "" {
		cmd.Env = append(cmd.Env, "PGSSLMODE="+mode)
		shown = "PGSSLMODE=" + mode + " " + shown
	}
	if password, ok := r.Server.User.Password(); ok {
		cmd.Env = append(cmd.Env, "PGPASSWORD="+password) // never in the command shown
	}
	out, err := cmd.CombinedOutput()
	res := Result{Command: shown + "pgbench " + strings.Join(relative(args, r.WorkDir), " ")}
	if err != nil {
		return res, fmt.Errorf("pgbench %s: %w: %s", r.Name, err, tail(out))
	}
	if m := tpsLine.FindSubmatch(out); m != nil {
		res.TPS, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if m := txLine.FindSubmatch(out); m != nil {
		res.Transactions, _ = strconv.Atoi(string(m[1]))
	}
	if m := failedLine.FindSubmatch(out); m != nil {
		res.Failed, _ = strconv.Atoi(string(m[1]))
	}
	res.Latencies, err = readLogs(prefix, r.Rate > 0)
	if err != nil {
		return res, err
	}
	if res.TPS == 0 {
		return res, fmt.Errorf("pgbench %s: no tps in its report: %s", r.Name, tail(out))
	}
	return res, nil
}

// readLogs reads the per-transaction logs: "client_id transaction_no time script_no time_epoch
// time_us [schedule_lag]", time and schedule_lag in microseconds.
func readLogs(prefix string, throttled bool) ([]time.Duration, error) {
	files, err := filepath.Glob(prefix + ".*")
	if err != nil {
		return nil, err
	}
	var out []time.Duration
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 6 || fields[2] == "failed" || fields[2] == "skipped" {
				continue
			}
			us, err := strconv.ParseInt(fields[2], 10, 64)
			if err != nil {
				continue
			}
			if throttled && len(fields) >= 7 {
				if lag, err := strconv.ParseInt(fields[6], 10, 64); err == nil {
					us += lag
				}
			}
			out = append(out, time.Duration(us)*time.Microsecond)
		}
		f.Close()
		_ = os.Remove(name)
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	slices.Sort(out)
	return out, nil
}

func relative(args []string, dir string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.ReplaceAll(a, dir+"/", "")
	}
	return out
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 600 {
		s = "…" + s[len(s)-600:]
	}
	return s
}

// Find returns the pgbench binary: the newest under /usr/lib/postgresql/*/bin, else the one on PATH.
func Find() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	if len(matches) > 0 {
		slices.SortFunc(matches, func(a, b string) int { return versionOf(a) - versionOf(b) })
		return matches[len(matches)-1], nil
	}
	if p, err := exec.LookPath("pgbench"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("pgbench not found (Debian: apt-get install postgresql-contrib)")
}

func versionOf(path string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return v
}
