package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/longboat/longboat/internal/testcluster"
)

// TestServeLogsToAPipe runs `longboat serve` with its log to a pipe, as
// under Docker or systemd, in a directory with the soft settings file the
// image runs with: the console format has no colour codes, and with
// --log-format json every line is a JSON object, dragonboat's start-up
// "Setting ..." lines (logged while Go initialises its packages) included.
func TestServeLogsToAPipe(t *testing.T) {
	t.Parallel()
	bin := buildLongboat(t)
	for _, format := range []string{"console", "json"} {
		t.Run(format, func(t *testing.T) {
			addrs := testcluster.FreeAddrs(t, 3)
			cmd := exec.Command(bin, "serve",
				"--data-dir", filepath.Join(t.TempDir(), "data"),
				"--listeners", "PLAINTEXT://"+addrs[0],
				"--raft-addr", addrs[1],
				"--http-addr", addrs[2],
				"--log-format", format)
			cmd.Dir = t.TempDir()
			if err := os.WriteFile(filepath.Join(cmd.Dir, softSettingsFile), softSettings, 0o644); err != nil {
				t.Fatal(err)
			}
			lines := startLines(t, cmd, cmd.StderrPipe)
			var seen []string
			deadline := time.After(30 * time.Second)
			for started := false; !started; {
				select {
				case line, ok := <-lines:
					if !ok {
						t.Fatalf("serve exited before it started: %q", seen)
					}
					seen = append(seen, line)
					started = strings.Contains(line, "broker started")
				case <-deadline:
					_ = cmd.Process.Kill()
					t.Fatalf("serve did not log \"broker started\" in 30 s: %q", seen)
				}
			}
			_ = cmd.Process.Signal(syscall.SIGTERM)
			for line := range lines {
				seen = append(seen, line)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("serve after SIGTERM: %v; log %q", err, seen)
			}
			settings := 0
			for _, line := range seen {
				if strings.Contains(line, "\x1b") {
					t.Errorf("colour codes in a log written to a pipe: %q", line)
				}
				if format != "json" {
					continue
				}
				var rec struct{ Level, Pkg, Message string }
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Errorf("--log-format json wrote a line that is not JSON: %q", line)
				}
				if rec.Pkg == "settings" && rec.Level == "info" && strings.HasPrefix(rec.Message, "Setting ") {
					settings++
				}
			}
			if format == "json" && settings < 4 {
				t.Errorf("%d of dragonboat's \"Setting ...\" lines in the JSON log, want one per value of %s (4)", settings, softSettingsFile)
			}
		})
	}
}
