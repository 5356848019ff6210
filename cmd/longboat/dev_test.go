package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// longboatBinary is this command built once for the package's tests (a
// link takes seconds); TestMain removes its directory.
var longboatBinary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// buildLongboat builds this command into a temporary directory, to run
// it as a user would; every test that calls it runs the same binary.
func buildLongboat(t *testing.T) string {
	t.Helper()
	longboatBinary.once.Do(func() {
		if longboatBinary.dir, longboatBinary.err = os.MkdirTemp("", "longboat-cmd-"); longboatBinary.err != nil {
			return
		}
		longboatBinary.path = filepath.Join(longboatBinary.dir, "longboat")
		if out, err := exec.Command("go", "build", "-o", longboatBinary.path, ".").CombinedOutput(); err != nil {
			longboatBinary.err = fmt.Errorf("build: %w\n%s", err, out)
		}
	})
	if longboatBinary.err != nil {
		t.Fatal(longboatBinary.err)
	}
	return longboatBinary.path
}

// startLines starts cmd and returns the lines it writes to the pipe
// (cmd.StdoutPipe or cmd.StderrPipe), closed when cmd closes it.
func startLines(t *testing.T, cmd *exec.Cmd, pipe func() (io.ReadCloser, error)) <-chan string {
	t.Helper()
	out, err := pipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return lines
}

func TestSoftSettingsMatchDockerImage(t *testing.T) {
	image, err := os.ReadFile("../../docker/etc/longboat/" + softSettingsFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(image, softSettings) {
		t.Fatalf("cmd/longboat/devconfig/%s differs from docker/etc/longboat/%s: dev brokers and Compose brokers would run with different dragonboat settings", softSettingsFile, softSettingsFile)
	}
}

func TestDevWorkDirWritesSettingsOnceAndKeepsEdits(t *testing.T) {
	t.Chdir(t.TempDir())
	dir, err := devWorkDir("data")
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(dir) {
		t.Fatalf("work dir %q is relative: brokers started there would resolve --data-dir against it", dir)
	}
	path := filepath.Join(dir, softSettingsFile)
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, softSettings) {
		t.Fatalf("%s after the first call: %q, %v", path, got, err)
	}
	edited := []byte(`{"ReceiveQueueLength": 128}`)
	if err := os.WriteFile(path, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := devWorkDir("data"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, edited) {
		t.Fatalf("a second dev overwrote the user's %s: %q", softSettingsFile, got)
	}
}

// TestDevBrokerReadsSoftSettings runs `longboat dev --nodes 1` from a
// directory without a settings file and checks, by dragonboat's own
// start-up lines, that the broker read the one dev put in --dir, then that
// the broker becomes ready with its data under --dir.
func TestDevBrokerReadsSoftSettings(t *testing.T) {
	k, r, h := devPorts(1)
	for _, port := range []int{k, r, h} {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Skipf("dev's fixed port %d is taken (a dev cluster running?): %v", port, err)
		}
		l.Close()
	}
	bin := buildLongboat(t)
	dir := filepath.Join(t.TempDir(), "data")
	// Info: dragonboat's "Setting ..." lines go through the broker's log at that level.
	cmd := exec.Command(bin, "dev", "--nodes", "1", "--dir", dir, "--log-level", "info", "--restart-delay", "0")
	cmd.Dir = t.TempDir()
	lines := startLines(t, cmd, cmd.StdoutPipe)
	want := map[string]bool{
		"Setting ReceiveQueueLength to uint64 value 64":           false,
		"Setting IncomingProposalQueueLength to uint64 value 256": false,
		"Setting PendingProposalShards to uint64 value 1":         false,
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		for range lines { // dev's output up to its exit, so Wait follows the last read
		}
		_ = cmd.Wait()
	}()
	deadline := time.After(60 * time.Second)
	for missing := len(want); missing > 0; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("dev exited before the broker reported its settings; still missing %v", want)
			}
			for w, seen := range want {
				if !seen && strings.HasPrefix(line, "[broker1]") && strings.Contains(line, w) {
					want[w] = true
					missing--
				}
			}
		case <-deadline:
			t.Fatalf("no dragonboat settings lines from the broker in 60 s; seen %v", want)
		}
	}
	readyz := []string{"--http-addr", "127.0.0.1:" + strconv.Itoa(h), "--timeout", "1s"}
	for err := healthcheck(readyz); err != nil; err = healthcheck(readyz) {
		select {
		case <-deadline:
			t.Fatalf("broker on HTTP port %d not ready in 60 s: %v", h, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "node1", "raft")); err != nil {
		t.Fatalf("broker data dir under --dir: %v", err)
	}
}

// dev refuses to start when a broker's port is taken instead of letting
// that broker exit and restart in a loop while clients reach the other
// process.
func TestDevRefusesTakenPort(t *testing.T) {
	if err := devPortsFree(1); err != nil {
		t.Skipf("broker 1's ports are taken already (a dev cluster running?): %v", err)
	}
	k2, r2, _ := devPorts(2)
	probe, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(k2)))
	if err != nil {
		t.Skipf("port %d is taken already: %v", k2, err)
	}
	probe.Close()
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(r2)))
	if err != nil {
		t.Skipf("port %d is taken already: %v", r2, err)
	}
	defer l.Close()
	err = devPortsFree(2)
	if err == nil || !strings.Contains(err.Error(), "broker 2's Raft port "+strconv.Itoa(r2)+" is taken") {
		t.Fatalf("devPortsFree(2) with port %d held = %v, want it named as taken", r2, err)
	}
	if self := strconv.Itoa(os.Getpid()); runtime.GOOS == "linux" && (!strings.Contains(err.Error(), "is taken by pid "+self+"\npid "+self+": ") || !strings.Contains(err.Error(), "kill "+self)) {
		t.Fatalf("devPortsFree(2) with port %d held by this process = %v, want pid %s named", r2, err, self)
	}
	if err := dev([]string{"--nodes", "2", "--dir", t.TempDir()}); err == nil || !strings.Contains(err.Error(), strconv.Itoa(r2)) {
		t.Fatalf("dev --nodes 2 with port %d held = %v, want the taken port reported", r2, err)
	}
}
