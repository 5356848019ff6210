package tlscert_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/tlscert"
	"github.com/longboat/longboat/internal/tlscert/tlstest"
)

func TestLoadRefusesMismatchedKey(t *testing.T) {
	ca := tlstest.NewCA(t, t.TempDir(), "ca")
	a, b := ca.Server(t, "a"), ca.Server(t, "b")
	_, err := tlscert.Load(config.TLS{CertFile: a.CertFile, KeyFile: b.KeyFile, ClientAuth: config.TLSClientAuthNone}, zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "--tls-cert-file") || !strings.Contains(err.Error(), "private key does not match") {
		t.Fatalf("Load with another cert's key: err = %v, want a mismatch naming --tls-cert-file", err)
	}
	_, err = tlscert.Load(config.TLS{CertFile: a.CertFile, KeyFile: a.KeyFile, ClientCAFile: a.KeyFile, ClientAuth: config.TLSClientAuthRequired}, zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "--tls-client-ca-file") {
		t.Fatalf("Load with a key as CA file: err = %v, want one naming --tls-client-ca-file", err)
	}
}

// TestReload serves TLS from a Store on a real listener: after Reload, new
// handshakes see the new certificate while a connection opened before it
// keeps exchanging data; a bad file leaves the new one in place and logs
// an error.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	first, second := ca.Server(t, "first"), ca.Server(t, "second")
	live := config.TLS{CertFile: dir + "/live.pem", KeyFile: dir + "/live-key.pem", ClientAuth: config.TLSClientAuthNone}
	install := func(p tlstest.Pair) {
		for src, dst := range map[string]string{p.CertFile: live.CertFile, p.KeyFile: live.KeyFile} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	install(first)
	var logs bytes.Buffer
	store, err := tlscert.Load(live, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", store.ServerConfig(config.TLSClientAuthNone))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // echo server
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	dial := func() (*tls.Conn, string) {
		t.Helper()
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		return c, c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	echo := func(c *tls.Conn) {
		t.Helper()
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("echo = %q, %v", buf, err)
		}
	}
	old, cn := dial()
	defer old.Close()
	if cn != "first" {
		t.Fatalf("served %q before reload, want first", cn)
	}
	echo(old)

	install(second)
	if err := store.Reload(); err != nil {
		t.Fatal(err)
	}
	fresh, cn := dial()
	defer fresh.Close()
	if cn != "second" {
		t.Fatalf("served %q after reload, want second", cn)
	}
	echo(fresh)
	echo(old)

	if err := os.WriteFile(live.KeyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := store.Reload(); err == nil {
		t.Fatal("Reload of a broken key succeeded")
	}
	if !strings.Contains(logs.String(), `"level":"error"`) || !strings.Contains(logs.String(), "still serving the previous certificate") {
		t.Errorf("no error logged for the failed reload: %s", logs.String())
	}
	c, cn := dial()
	c.Close()
	if cn != "second" || store.Leaf().Subject.CommonName != "second" {
		t.Fatalf("after a failed reload served %q, want second", cn)
	}
}

func TestMinimumTLS12(t *testing.T) {
	ca := tlstest.NewCA(t, t.TempDir(), "ca")
	p := ca.Server(t, "broker")
	store, err := tlscert.Load(config.TLS{CertFile: p.CertFile, KeyFile: p.KeyFile, ClientAuth: config.TLSClientAuthNone}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", store.ServerConfig(config.TLSClientAuthNone))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err == nil {
		c.Close()
		t.Fatal("a TLS 1.1 client completed a handshake")
	}
}

func TestPrincipal(t *testing.T) {
	ca := tlstest.NewCA(t, t.TempDir(), "ca")
	alice := ca.Client(t, "alice")
	if got := tlscert.Principal(tls.ConnectionState{}); got != tlscert.Anonymous {
		t.Errorf("no certificate: %q, want %q", got, tlscert.Anonymous)
	}
	cs := tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{alice.Cert}}}
	if got := tlscert.Principal(cs); got != "User:alice" {
		t.Errorf("principal = %q, want User:alice", got)
	}
}
