package config

import (
	"strings"
	"testing"

	"github.com/longboat/longboat/internal/tlscert/tlstest"
)

// --raft-tls is refused at start, saying what to set, unless the broker's
// certificate would pass dragonboat's mutual TLS in both directions.
func TestRaftTLSValidation(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "cluster")
	other := tlstest.NewCA(t, dir, "other")
	peer := ca.Peer(t, "broker1")
	serverOnly := ca.Server(t, "server-only")
	foreign := other.Peer(t, "foreign")
	args := func(raftHost string, p tlstest.Pair, extra ...string) []string {
		return append([]string{"--raft-tls", "--raft-addr", raftHost + ":19192", "--initial-members", "1=" + raftHost + ":19192",
			"--tls-cert-file", p.CertFile, "--tls-key-file", p.KeyFile, "--tls-client-ca-file", ca.CertFile}, extra...)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr []string
	}{
		{"peer certificate naming the Raft host", args("127.0.0.1", peer), nil},
		{"localhost also named", args("localhost", peer), nil},
		{"no files", []string{"--raft-tls"}, []string{"--raft-tls: set --tls-cert-file and --tls-key-file", "--tls-client-ca-file"}},
		{"server-only certificate", args("127.0.0.1", serverOnly), []string{"does not verify for clientAuth", "extendedKeyUsage serverAuth,clientAuth"}},
		{"another CA", args("127.0.0.1", foreign), []string{"does not verify for serverAuth against --tls-client-ca-file"}},
		{"Raft host not in the certificate", args("broker7.example", peer), []string{"does not name broker7.example, the host of --raft-addr", "subjectAltName"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(tc.args, func(string) string { return "" })
			if len(tc.wantErr) == 0 {
				if err != nil || !c.RaftTLS {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// --http-tls is checked the same way against the host peers dial: the
// advertised HTTP address (a wildcard --http-addr stands for the Raft host).
func TestHTTPTLSValidation(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "cluster")
	peer := ca.Peer(t, "broker1")
	serverOnly := ca.Server(t, "server-only")
	args := func(httpAddr string, p tlstest.Pair, extra ...string) []string {
		return append([]string{"--http-tls", "--raft-addr", "127.0.0.1:19192", "--initial-members", "1=127.0.0.1:19192", "--http-addr", httpAddr,
			"--tls-cert-file", p.CertFile, "--tls-key-file", p.KeyFile, "--tls-client-ca-file", ca.CertFile}, extra...)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr []string
	}{
		{"peer certificate naming the HTTP host", args("127.0.0.1:13092", peer), nil},
		{"wildcard bind, Raft host named", args("0.0.0.0:13092", peer), nil},
		{"no client CA", []string{"--http-tls", "--tls-cert-file", peer.CertFile, "--tls-key-file", peer.KeyFile},
			[]string{"--http-tls: set --tls-cert-file and --tls-key-file", "--tls-client-ca-file (the CA that signs every broker's certificate)"}},
		{"server-only certificate", args("127.0.0.1:13092", serverOnly), []string{"--http-tls: --tls-cert-file", "does not verify for clientAuth"}},
		{"advertised host not in the certificate", args("0.0.0.0:13092", peer, "--advertised-http-addr", "broker7.example:13092"),
			[]string{"--http-tls: --tls-cert-file", "does not name broker7.example, the host of --advertised-http-addr (or --http-addr)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(tc.args, func(string) string { return "" })
			if len(tc.wantErr) == 0 {
				if err != nil || !c.HTTPTLS {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
