// Package config reads process settings from environment variables, with defaults.
//
// It owns nothing but the parsing of values; it must not import other packages of this
// repository. An empty variable counts as unset, so `FOO= ./svc` falls back to the default.
// A value that does not parse also falls back to the default: the callers log their effective
// configuration at start-up, which is where a typo shows.
package config

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"time"
)

// lookup returns the variable's value and whether it is set to something non-empty.
func lookup(key string) (string, bool) {
	v, ok := os.LookupEnv(key)
	return v, ok && v != ""
}

// String returns the value of the environment variable key, or def when it is unset or empty.
func String(key, def string) string {
	if v, ok := lookup(key); ok {
		return v
	}
	return def
}

// Int returns the variable key parsed as a base-10 integer, or def when it is unset, empty or
// not an integer.
func Int(key string, def int) int {
	if v, ok := lookup(key); ok {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

// Duration returns the variable key parsed by time.ParseDuration ("250ms", "1m30s"), or def when
// it is unset, empty or not a duration.
func Duration(key string, def time.Duration) time.Duration {
	if v, ok := lookup(key); ok {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

// Bool returns the variable key parsed by strconv.ParseBool (1/0, t/f, true/false, …), or def
// when it is unset, empty or not a boolean.
func Bool(key string, def bool) bool {
	if v, ok := lookup(key); ok {
		if b, err := strconv.ParseBool(v); err == nil {
			return b
		}
	}
	return def
}

// Must returns the value of the variable key, or an error naming the variable when it is unset
// or empty. Use it for settings that have no safe default, such as secrets.
func Must(key string) (string, error) {
	if v, ok := lookup(key); ok {
		return v, nil
	}
	return "", fmt.Errorf("config: environment variable %s is not set", key)
}

// Defaults shared by every binary, matching what deploy/local/run.sh and the README assume.
const (
	// DefaultDatabaseURL is the local trust-auth PostgreSQL.
	DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	// DefaultNATSURL is the local NATS server with JetStream.
	DefaultNATSURL = "nats://127.0.0.1:4222"
)

// DefaultGOGC is the garbage collector's target heap growth, in percent, when GOGC is not set:
// twice Go's default of 100, so that collections come half as often. The services' live heaps are
// a few MB, so at hundreds of requests per second a collection ran many times a second (4–10 % of
// a service's profile); at 200 the customer service spent 15–30 % less CPU per gRPC get in the
// benchmark, for a few MB more of heap (docs/benchmarks.md).
const DefaultGOGC = 200

// SetGOGC sets the garbage collector's target to DefaultGOGC unless the GOGC environment variable
// is set, in which case the runtime has already applied it. Call it at the start of main.
func SetGOGC() {
	if _, ok := lookup("GOGC"); !ok {
		debug.SetGCPercent(DefaultGOGC)
	}
}
