package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// processAlive tells whether pid runs (a zombie, dead but not yet reaped
// by whoever adopted it, does not).
func processAlive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...: the state follows the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// TestDevKilledTakesItsBrokersAlong runs `longboat dev` with its output to
// a pipe, as `dev > file` or a CI log: no broker line carries a colour
// code. Then dev is killed with SIGKILL, which it cannot handle: the kernel
// (parent-death signal) stops its brokers, so their pids end and their
// ports are free within seconds instead of leaving a cluster behind.
func TestDevKilledTakesItsBrokersAlong(t *testing.T) {
	const nodes = 2
	if err := devPortsFree(nodes); err != nil {
		t.Skipf("dev's fixed ports are taken (a dev cluster running?): %v", err)
	}
	bin := buildLongboat(t)
	cmd := exec.Command(bin, "dev", "--nodes", strconv.Itoa(nodes), "--dir", filepath.Join(t.TempDir(), "data"), "--restart-delay", "0")
	cmd.Dir = t.TempDir()
	lines := startLines(t, cmd, cmd.StdoutPipe)
	var (
		mu     sync.Mutex
		output bytes.Buffer
		pids   []int
	)
	t.Cleanup(func() { // brokers a failed test left running
		mu.Lock()
		defer mu.Unlock()
		for _, pid := range pids {
			if t.Failed() && processAlive(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	pidLine := regexp.MustCompile(`^\[broker\d\] pid (\d+): `)
	started, drained := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(drained)
		for line := range lines {
			mu.Lock()
			output.WriteString(line + "\n")
			if m := pidLine.FindStringSubmatch(line); m != nil {
				pid, _ := strconv.Atoi(m[1])
				if pids = append(pids, pid); len(pids) == nodes {
					close(started)
				}
			}
			mu.Unlock()
		}
	}()
	// Wait closes the pipe: only after dev's last line was read.
	defer func() { _ = cmd.Process.Kill(); <-drained; _ = cmd.Wait() }()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("dev printed no pid for its brokers in 30 s")
	}
	deadline := time.Now().Add(60 * time.Second)
	for i := 1; i <= nodes; i++ {
		_, _, h := devPorts(i)
		readyz := []string{"--http-addr", "127.0.0.1:" + strconv.Itoa(h), "--timeout", "1s"}
		for err := healthcheck(readyz); err != nil; err = healthcheck(readyz) {
			if time.Now().After(deadline) {
				t.Fatalf("broker %d not ready in 60 s: %v", i, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	mu.Lock()
	out := output.String()
	mu.Unlock()
	if !strings.Contains(out, "broker started") {
		t.Fatalf("no broker log line in dev's output:\n%s", out)
	}
	if strings.Contains(out, "\x1b") {
		t.Fatalf("dev's output to a pipe has escape (colour) codes:\n%q", out)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	<-drained // dev is gone, so its output ends; pids is complete
	for {
		var alive []int
		for _, pid := range pids {
			if processAlive(pid) {
				alive = append(alive, pid)
			}
		}
		portsErr := devPortsFree(nodes)
		if len(alive) == 0 && portsErr == nil {
			t.Logf("brokers %v gone and ports free %v after dev's SIGKILL", pids, time.Since(killed).Round(time.Millisecond))
			return
		}
		if time.Since(killed) > 10*time.Second {
			t.Fatalf("10 s after dev's SIGKILL: brokers still running %v; ports: %v", alive, portsErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
