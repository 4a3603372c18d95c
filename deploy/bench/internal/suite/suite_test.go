package suite

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCallsServePprof(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, main, service string
		want                bool
	}{
		{"main serves profiles itself", "package main\nfunc f() { grpcx.ServePprof(ctx, a, l) }\n", "", true},
		{"through pkg/service that does", "package main\nimport \"github.com/crmsuite/crm/pkg/service\"\n", "g.Go(func() error { return grpcx.ServePprof(gctx, addr, log) })", true},
		{"through pkg/service that does not", "package main\nimport \"github.com/crmsuite/crm/pkg/service\"\n", "package service\n", false},
		{"neither", "package main\nfunc main() {}\n", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			mainDir := filepath.Join(root, "services", "x", "cmd", "x")
			write(t, filepath.Join(mainDir, "main.go"), tt.main)
			if tt.service != "" {
				write(t, filepath.Join(root, "pkg", "service", "service.go"), tt.service)
			}
			got, err := callsServePprof(mainDir)
			if err != nil || got != tt.want {
				t.Fatalf("callsServePprof = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestWriteOverlayOnlyWhereNeeded(t *testing.T) {
	t.Parallel()
	root, dir := t.TempDir(), t.TempDir()
	write(t, filepath.Join(root, "a", "main.go"), "package main\nfunc main() { grpcx.ServePprof(nil, \"\", nil) }\n")
	write(t, filepath.Join(root, "b", "main.go"), "package main\nfunc main() {}\n")
	path, err := writeOverlay(root, dir, "/src/pprof.go", []string{"./a", "./b"})
	if err != nil || path == "" {
		t.Fatalf("writeOverlay = %q, %v", path, err)
	}
	b, _ := os.ReadFile(path)
	want := `{"Replace":{"` + filepath.Join(root, "b", "zz_bench_pprof.go") + `":"/src/pprof.go"}}`
	if string(b) != want {
		t.Fatalf("overlay %s, want %s", b, want)
	}
	if path, err := writeOverlay(root, dir, "/src/pprof.go", []string{"./a"}); err != nil || path != "" {
		t.Fatalf("overlay for a main that serves profiles: %q, %v", path, err)
	}
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
