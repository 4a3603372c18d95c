// Package procstat measures CPU time from Linux's /proc: per process (utime + stime of
// /proc/<pid>/stat), for a group of processes sampled in the background so that short-lived ones
// (PostgreSQL backends of pgbench) are counted up to their last sample, and for the whole machine
// (/proc/stat).
//
// It reads files only; it starts and stops nothing.
package procstat

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ticksPerSecond is USER_HZ, 100 on every Linux architecture Go supports (the kernel fixes it
// for user space, whatever CONFIG_HZ is).
const ticksPerSecond = 100

// Ticks returns the CPU time the process has used so far (user + system, itself only).
func Ticks(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStat(b)
}

// parseStat reads utime and stime (fields 14 and 15) of a /proc/<pid>/stat line. The command
// name (field 2) is in parentheses and may hold spaces, so fields are counted after its last ')'.
func parseStat(b []byte) (time.Duration, error) {
	_, cpu, _, err := parseStatLine(b)
	return cpu, err
}

// parseStatLine is parseStat that also returns the command name and the start time (field 22,
// in ticks since boot), which tells a process from a later one with the same pid.
func parseStatLine(b []byte) (name string, cpu time.Duration, start int64, err error) {
	i := bytes.LastIndexByte(b, ')')
	j := bytes.IndexByte(b, '(')
	if i < 0 || j < 0 || j > i {
		return "", 0, 0, fmt.Errorf("procstat: malformed stat line")
	}
	f := strings.Fields(string(b[i+1:]))
	// After ')': state is field 3, so utime (14) is f[11] and stime (15) f[12].
	if len(f) < 13 {
		return "", 0, 0, fmt.Errorf("procstat: short stat line")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return "", 0, 0, fmt.Errorf("procstat: bad utime/stime %q %q", f[11], f[12])
	}
	if len(f) > 19 {
		start, _ = strconv.ParseInt(f[19], 10, 64)
	}
	return string(b[j+1 : i]), time.Duration(u+s) * time.Second / ticksPerSecond, start, nil
}

// Machine is a snapshot of /proc/stat's first line: busy and total CPU time of all cores, and
// of the busy time what the hypervisor gave to others while the machine's virtual cores had work
// (steal).
type Machine struct{ Busy, Total, Steal time.Duration }

// ReadMachine reads the machine's CPU counters.
func ReadMachine() (Machine, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return Machine{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return Machine{}, fmt.Errorf("procstat: unexpected /proc/stat")
	}
	var total, idle, steal int64
	for i, s := range f[1:] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return Machine{}, fmt.Errorf("procstat: /proc/stat: %w", err)
		}
		if i >= 8 { // guest time is already counted in user time
			break
		}
		total += v
		switch i {
		case 3, 4: // idle, iowait
			idle += v
		case 7:
			steal += v
		}
	}
	tick := time.Second / ticksPerSecond
	return Machine{Busy: time.Duration(total-idle) * tick, Total: time.Duration(total) * tick,
		Steal: time.Duration(steal) * tick}, nil
}

// Process is one process's name (comm; a kernel worker's changes with the work it does), the
// CPU time it has used (utime + stime) and when it started (ticks since boot).
type Process struct {
	Name  string
	CPU   time.Duration
	Start int64
}

// ReadProcesses reads every running process's /proc/<pid>/stat: a file each, so it is for the
// start and the end of a run, not for sampling.
func ReadProcesses() map[int]Process {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	out := make(map[int]Process, len(entries))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		if name, cpu, start, err := parseStatLine(b); err == nil {
			out[pid] = Process{Name: name, CPU: cpu, Start: start}
		}
	}
	return out
}

// Usage is the CPU time that the processes of one name used.
type Usage struct {
	Name string
	CPU  time.Duration
}

// Steal is the name under which Others reports Machine.Steal.
const Steal = "steal"

// Others tells what else used the machine between two snapshots, busiest first: Steal (the
// hypervisor's, Machine.Steal) and the processes not in skip, summed by their names in p1. A
// process that started after p0 counts from zero; one that ended before p1 is not seen.
// Interrupts are not listed: with the kernel's tick-based accounting (no
// CONFIG_IRQ_TIME_ACCOUNTING, as on the machines measured so far) they are inside the times of
// the processes they interrupted.
func Others(m0, m1 Machine, p0, p1 map[int]Process, skip map[int]bool) []Usage {
	byName := map[string]time.Duration{}
	for pid, p := range p1 {
		if skip[pid] {
			continue
		}
		d := p.CPU
		if q, ok := p0[pid]; ok && q.Start == p.Start {
			d -= q.CPU
		}
		if d > 0 {
			byName[p.Name] += d
		}
	}
	out := make([]Usage, 0, len(byName)+1)
	if d := m1.Steal - m0.Steal; d > 0 {
		out = append(out, Usage{Name: Steal, CPU: d})
	}
	for name, d := range byName {
		out = append(out, Usage{Name: name, CPU: d})
	}
	slices.SortFunc(out, func(a, b Usage) int {
		if c := cmp.Compare(b.CPU, a.CPU); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// Utilisation is the busy share of all cores between two snapshots (0–1).
func Utilisation(a, b Machine) float64 {
	if b.Total <= a.Total {
		return 0
	}
	return float64(b.Busy-a.Busy) / float64(b.Total-a.Total)
}

// Match selects processes by their command line (NUL bytes replaced by spaces) and comm name.
type Match func(comm, cmdline string) bool

// Group is a set of processes whose CPU time is summed: fixed pids plus, while a Sampler runs,
// every process matching a Match.
type Group struct {
	Name string
	Pids []int
	// Match, when set, adds every running process it accepts (looked up at each sample).
	Match Match
	// Lookup, when set, adds the processes it returns at each sample (e.g. the PostgreSQL
	// backends that one client opened, from pg_stat_activity).
	Lookup func() []int
}

// Sampler samples groups' CPU time in the background, remembering each process's first and last
// value, so that CPU of a process that exits between two samples is counted up to its last one.
type Sampler struct {
	groups []Group
	every  time.Duration

	mu    sync.Mutex
	names map[int]procName // each process's names, read when it is first seen
	first map[string]map[int]time.Duration
	last  map[string]map[int]time.Duration
	stop  context.CancelFunc
	done  chan struct{}
}

// Start samples the groups now and then every interval until Stop.
func Start(groups []Group, every time.Duration) *Sampler {
	s := &Sampler{groups: groups, every: every, names: map[int]procName{}, first: map[string]map[int]time.Duration{},
		last: map[string]map[int]time.Duration{}, done: make(chan struct{})}
	for _, g := range groups {
		s.first[g.Name] = map[int]time.Duration{}
		s.last[g.Name] = map[int]time.Duration{}
	}
	s.sample(true)
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.sample(false)
			}
		}
	}()
	return s
}

// Pids returns every process the sampler measured, in any group.
func (s *Sampler) Pids() map[int]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int]bool{}
	for _, last := range s.last {
		for pid := range last {
			out[pid] = true
		}
	}
	return out
}

// Stop takes a last sample and returns the CPU time each group used since Start.
func (s *Sampler) Stop() map[string]time.Duration {
	s.stop()
	<-s.done
	s.sample(false)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]time.Duration{}
	for _, g := range s.groups {
		var sum time.Duration
		for pid, last := range s.last[g.Name] {
			sum += last - s.first[g.Name][pid]
		}
		out[g.Name] = sum
	}
	return out
}

// sample reads every group's processes. On the first sample every process found sets the
// baseline; a process first seen later started during the run, so its baseline is zero.
func (s *Sampler) sample(initial bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	needScan := false
	for _, g := range s.groups {
		needScan = needScan || g.Match != nil
	}
	if needScan {
		s.refreshNames()
	}
	// A process in several groups (a backend is in "postgres" and in its client's) is read once.
	ticks := map[int]time.Duration{}
	read := func(pid int) (time.Duration, bool) {
		if t, ok := ticks[pid]; ok {
			return t, true
		}
		t, err := Ticks(pid)
		if err != nil {
			return 0, false
		}
		ticks[pid] = t
		return t, true
	}
	for _, g := range s.groups {
		seen := map[int]time.Duration{}
		pids := g.Pids
		if g.Lookup != nil {
			pids = append(pids[:len(pids):len(pids)], g.Lookup()...)
		}
		for _, pid := range pids {
			if t, ok := read(pid); ok {
				seen[pid] = t
			}
		}
		if g.Match != nil {
			for pid, n := range s.names {
				if !g.Match(n.comm, n.cmdline) {
					continue
				}
				if t, ok := read(pid); ok {
					seen[pid] = t
				}
			}
		}
		for pid, t := range seen {
			if _, ok := s.first[g.Name][pid]; !ok {
				if initial {
					s.first[g.Name][pid] = t
				} else {
					s.first[g.Name][pid] = 0
				}
			}
			s.last[g.Name][pid] = t
		}
	}
}

// procName is what a Match looks at.
type procName struct {
	comm, cmdline string
	seen          time.Time // when the process was first seen
}

// postgresNaming is how long a PostgreSQL process's names are read again after it was first
// seen. It names its database only once it has connected (a backend after its start-up packet,
// an autovacuum worker after it picked a database), moments after it started, and keeps the name
// from then on (only the activity at the end of its title changes). Reading the names of every
// PostgreSQL process at every sample was over half of the sampler's CPU and a sixth of the
// harness's under creates (2026-12-03).
const postgresNaming = time.Second

// refreshNames lists the running processes and reads the names of those not seen before, once
// (PostgreSQL's during their first second): only the CPU time of matching processes is read each
// time. (Reading three files of every process four times a second cost the harness more CPU than
// a service under light load, on a machine where a system call costs microseconds.)
func (s *Sampler) refreshNames() {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	now := time.Now()
	running := make(map[int]bool, len(entries))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		running[pid] = true
		seen := now
		if n, ok := s.names[pid]; ok {
			if n.comm != "postgres" || now.Sub(n.seen) > postgresNaming {
				continue
			}
			seen = n.seen
		}
		d := "/proc/" + e.Name()
		comm, err := os.ReadFile(d + "/comm")
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile(d + "/cmdline")
		s.names[pid] = procName{comm: strings.TrimSpace(string(comm)),
			cmdline: strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " ")), seen: seen}
	}
	for pid := range s.names {
		if !running[pid] {
			delete(s.names, pid)
		}
	}
}

// PostgresFor matches the PostgreSQL server processes that work for database db: its backends
// (their command line names the database, "postgres: 15/main: postgres crm_bench 127.0.0.1(…)")
// and the shared background processes (checkpointer, background writer, WAL writer, autovacuum),
// but not the backends of other databases on the same server.
func PostgresFor(db string) Match {
	shared := []string{"checkpointer", "background writer", "walwriter", "autovacuum launcher",
		"logical replication launcher", "archiver", "stats collector"}
	return func(comm, cmdline string) bool {
		if comm != "postgres" && !strings.HasPrefix(cmdline, "postgres") && !strings.Contains(cmdline, "/postgres ") {
			return false
		}
		if strings.Contains(cmdline, " "+db+" ") || strings.HasSuffix(cmdline, " "+db) {
			return true
		}
		for _, s := range shared {
			if strings.HasSuffix(cmdline, ": "+s) || strings.HasSuffix(cmdline, ": "+s+" ") {
				return true
			}
		}
		return false
	}
}
