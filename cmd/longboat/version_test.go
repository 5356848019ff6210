package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/longboat/longboat/internal/version"
)

// TestVersionCommand builds the binary the way scripts/build-images.sh and
// the Dockerfile do (the commit through -ldflags -X) and checks that
// `longboat version` prints internal/version's release, that commit and the
// Go version.
func TestVersionCommand(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "longboat")
	const commit = "0123456789ab-test"
	build := exec.Command("go", "build", "-o", bin,
		"-ldflags", "-X github.com/longboat/longboat/internal/version.Commit="+commit, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("longboat version: %v", err)
	}
	want := "longboat " + version.Version + " (commit " + commit + ", " + runtime.Version() + ")"
	if got := strings.TrimSpace(string(out)); got != want {
		t.Fatalf("longboat version printed %q, want %q", got, want)
	}
}
