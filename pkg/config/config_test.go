package config

import (
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// The tests use t.Setenv, which forbids t.Parallel; each case sets its own variable anyway.

func TestString(t *testing.T) {
	tests := []struct {
		name  string
		set   bool
		value string
		want  string
	}{
		{name: "unset gives default", want: "def"},
		{name: "empty gives default", set: true, value: "", want: "def"},
		{name: "set value wins", set: true, value: "x", want: "x"},
		{name: "spaces kept", set: true, value: " a b ", want: " a b "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.set {
				t.Setenv("CRM_CONFIG_TEST", tc.value)
			}
			if got := String("CRM_CONFIG_TEST", "def"); got != tc.want {
				t.Fatalf("String = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestInt(t *testing.T) {
	tests := []struct {
		name  string
		set   bool
		value string
		want  int
	}{
		{name: "unset gives default", want: 7},
		{name: "empty gives default", set: true, want: 7},
		{name: "number", set: true, value: "42", want: 42},
		{name: "negative", set: true, value: "-3", want: -3},
		{name: "garbage gives default", set: true, value: "4x", want: 7},
		{name: "float gives default", set: true, value: "1.5", want: 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.set {
				t.Setenv("CRM_CONFIG_TEST", tc.value)
			}
			if got := Int("CRM_CONFIG_TEST", 7); got != tc.want {
				t.Fatalf("Int = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		name  string
		set   bool
		value string
		want  time.Duration
	}{
		{name: "unset gives default", want: time.Second},
		{name: "duration", set: true, value: "1m30s", want: 90 * time.Second},
		{name: "millis", set: true, value: "250ms", want: 250 * time.Millisecond},
		{name: "bare number gives default", set: true, value: "30", want: time.Second},
		{name: "garbage gives default", set: true, value: "soon", want: time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.set {
				t.Setenv("CRM_CONFIG_TEST", tc.value)
			}
			if got := Duration("CRM_CONFIG_TEST", time.Second); got != tc.want {
				t.Fatalf("Duration = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBool(t *testing.T) {
	tests := []struct {
		name  string
		set   bool
		value string
		def   bool
		want  bool
	}{
		{name: "unset gives default true", def: true, want: true},
		{name: "unset gives default false", def: false, want: false},
		{name: "true", set: true, value: "true", want: true},
		{name: "one", set: true, value: "1", want: true},
		{name: "false overrides default", set: true, value: "false", def: true, want: false},
		{name: "garbage gives default", set: true, value: "yes please", def: true, want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.set {
				t.Setenv("CRM_CONFIG_TEST", tc.value)
			}
			if got := Bool("CRM_CONFIG_TEST", tc.def); got != tc.want {
				t.Fatalf("Bool = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMust(t *testing.T) {
	t.Run("unset names the variable", func(t *testing.T) {
		_, err := Must("CRM_CONFIG_TEST_UNSET")
		if err == nil || !strings.Contains(err.Error(), "CRM_CONFIG_TEST_UNSET") {
			t.Fatalf("Must error = %v, want one naming the variable", err)
		}
	})
	t.Run("empty is unset", func(t *testing.T) {
		t.Setenv("CRM_CONFIG_TEST", "")
		if _, err := Must("CRM_CONFIG_TEST"); err == nil {
			t.Fatal("Must accepted an empty value")
		}
	})
	t.Run("set", func(t *testing.T) {
		t.Setenv("CRM_CONFIG_TEST", "secret")
		got, err := Must("CRM_CONFIG_TEST")
		if err != nil || got != "secret" {
			t.Fatalf("Must = %q, %v", got, err)
		}
	})
}

func TestSetGOGC(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })

	t.Setenv("GOGC", "")
	SetGOGC()
	if got := debug.SetGCPercent(73); got != DefaultGOGC {
		t.Errorf("GOGC unset: GC percent %d, want %d", got, DefaultGOGC)
	}
	// The runtime reads GOGC at start-up; SetGOGC must then leave its setting alone.
	t.Setenv("GOGC", "50")
	SetGOGC()
	if got := debug.SetGCPercent(100); got != 73 {
		t.Errorf("GOGC set: GC percent changed to %d", got)
	}
}
