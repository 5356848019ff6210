package main

import (
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/tlscert/tlstest"
)

// TestServeReloadsTLSOnSIGHUP runs `longboat serve` with an SSL listener,
// swaps the certificate files and sends SIGHUP: new connections get the
// new certificate, a connection opened before keeps being served, and a
// broken file afterwards is logged as an error and changes nothing.
func TestServeReloadsTLSOnSIGHUP(t *testing.T) {
	t.Parallel()
	bin := buildLongboat(t)
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	first, second := ca.Server(t, "first"), ca.Server(t, "second")
	certFile, keyFile := filepath.Join(dir, "live.pem"), filepath.Join(dir, "live-key.pem")
	install := func(p tlstest.Pair) {
		copyFile(t, p.CertFile, certFile)
		copyFile(t, p.KeyFile, keyFile)
	}
	install(first)
	addrs := testcluster.FreeAddrs(t, 1)
	broker := startServe(t, bin, "SSL://"+addrs[0], "--tls-cert-file", certFile, "--tls-key-file", keyFile)
	cmd, log := broker.cmd, broker.log

	dial := func() (*tls.Conn, string) {
		t.Helper()
		c, err := tls.Dial("tcp", addrs[0], &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		return c, c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	old, cn := dial()
	defer old.Close()
	if cn != "first" {
		t.Fatalf("served %q, want first", cn)
	}
	apiVersions(t, old, 1)

	// A plaintext Kafka client on the SSL port is closed with a log line.
	plain, err := net.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	apiVersionsFails(t, plain)
	log.waitFor(t, "closing connection: TLS handshake failed")

	install(second)
	_ = cmd.Process.Signal(syscall.SIGHUP)
	log.waitFor(t, `"TLS certificates reloaded"`)
	fresh, cn := dial()
	fresh.Close()
	if cn != "second" {
		t.Fatalf("after SIGHUP served %q, want second", cn)
	}
	apiVersions(t, old, 2)

	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Signal(syscall.SIGHUP)
	line := log.waitFor(t, "TLS reload failed")
	if !strings.Contains(line, `"level":"error"`) {
		t.Errorf("failed reload not logged at error: %s", line)
	}
	fresh, cn = dial()
	fresh.Close()
	if cn != "second" {
		t.Fatalf("after a failed reload served %q, want second", cn)
	}
	apiVersions(t, old, 3)
}

// apiVersionsFails sends ApiVersions in plaintext and expects the
// connection closed rather than answered.
func apiVersionsFails(t *testing.T, c net.Conn) {
	t.Helper()
	defer c.Close()
	req := []byte{0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 9, 0, 0}
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("plaintext client on the SSL port: %v, want the connection closed", err)
	}
}

// apiVersions sends ApiVersions v0 on c and reads the answer.
func apiVersions(t *testing.T, c io.ReadWriter, correlation uint32) {
	t.Helper()
	req := binary.BigEndian.AppendUint32([]byte{0, 18, 0, 0}, correlation)
	req = append(req, 0, 0) // empty client id
	if _, err := c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(req))), req...)); err != nil {
		t.Fatalf("ApiVersions on an open TLS connection: %v", err)
	}
	var hdr [8]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatalf("ApiVersions answer on an open TLS connection: %v", err)
	}
	if got := binary.BigEndian.Uint32(hdr[4:]); got != correlation {
		t.Fatalf("correlation id %d, want %d", got, correlation)
	}
	if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(hdr[:4]))-4); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// serveProc is a `longboat serve` process started by startServe.
type serveProc struct {
	cmd      *exec.Cmd
	log      *logLines
	httpAddr string
}

// startServe runs a single-broker `longboat serve` on the given listeners
// (free Raft and HTTP addresses, a fresh data dir, JSON logs, args added),
// waits until it has started, and stops it with SIGTERM when the test ends.
func startServe(t *testing.T, bin, listeners string, args ...string) *serveProc {
	t.Helper()
	addrs := testcluster.FreeAddrs(t, 2)
	cmd := exec.Command(bin, append([]string{"serve",
		"--data-dir", filepath.Join(t.TempDir(), "data"),
		"--listeners", listeners,
		"--raft-addr", addrs[0],
		"--http-addr", addrs[1],
		"--log-format", "json"}, args...)...)
	cmd.Dir = t.TempDir()
	log := collect(startLines(t, cmd, cmd.StderrPipe))
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	log.waitFor(t, `"broker started"`)
	return &serveProc{cmd: cmd, log: log, httpAddr: addrs[1]}
}

// logLines keeps reading a process's log, so that it never blocks on a
// full pipe, and lets a test wait for a line.
type logLines struct {
	mu    sync.Mutex
	lines []string
	more  chan struct{}
}

func collect(lines <-chan string) *logLines {
	l := &logLines{more: make(chan struct{}, 1)}
	go func() {
		for line := range lines {
			l.mu.Lock()
			l.lines = append(l.lines, line)
			l.mu.Unlock()
			select {
			case l.more <- struct{}{}:
			default:
			}
		}
	}()
	return l
}

// waitFor returns the first line containing s, waiting up to 30 s.
func (l *logLines) waitFor(t *testing.T, s string) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		l.mu.Lock()
		for _, line := range l.lines {
			if strings.Contains(line, s) {
				l.mu.Unlock()
				return line
			}
		}
		seen := strings.Join(l.lines, "\n")
		l.mu.Unlock()
		select {
		case <-l.more:
		case <-deadline:
			t.Fatalf("no log line with %q in 30 s:\n%s", s, seen)
		}
	}
}
