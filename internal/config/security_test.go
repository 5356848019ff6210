package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestListenerProtocols(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	for _, f := range []string{cert, key} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tlsArgs := []string{"--tls-cert-file", cert, "--tls-key-file", key}
	tests := []struct {
		name    string
		args    []string
		want    map[string]string // listener -> protocol
		wantErr []string
	}{
		{name: "names are protocols", args: append([]string{"--listeners", "PLAINTEXT://a:1,SSL://a:2"}, tlsArgs...),
			want: map[string]string{"PLAINTEXT": ProtocolPlaintext, "SSL": ProtocolSSL}},
		{name: "mapped names", args: append([]string{"--listeners", "INTERNAL://a:1,EXTERNAL://a:2", "--listener-security-protocol-map", "internal:plaintext, EXTERNAL:SSL"}, tlsArgs...),
			want: map[string]string{"INTERNAL": ProtocolPlaintext, "EXTERNAL": ProtocolSSL}},
		{name: "no map: other names stay plaintext", args: []string{"--listeners", "INTERNAL://a:1"},
			want: map[string]string{"INTERNAL": ProtocolPlaintext}},
		{name: "map leaves a listener out", args: []string{"--listeners", "INTERNAL://a:1,EXTRENAL://a:2", "--listener-security-protocol-map", "INTERNAL:PLAINTEXT"},
			wantErr: []string{"listener EXTRENAL has no security protocol", "add EXTRENAL:PLAINTEXT"}},
		{name: "unknown protocol", args: []string{"--listeners", "X://a:1", "--listener-security-protocol-map", "X:TLS"},
			wantErr: []string{`"X:TLS": protocol must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL`}},
		{name: "malformed map", args: []string{"--listeners", "X://a:1", "--listener-security-protocol-map", "X"},
			wantErr: []string{"want NAME:PROTOCOL"}},
		{name: "SASL listeners", args: append([]string{"--listeners", "SASL_SSL://a:1,EXTERNAL://a:2,SASL_PLAINTEXT://a:3,INTERNAL://a:4", "--listener-security-protocol-map", "EXTERNAL:SASL_PLAINTEXT,INTERNAL:SSL"}, tlsArgs...),
			want: map[string]string{"SASL_SSL": ProtocolSASLSSL, "EXTERNAL": ProtocolSASLPlaintext, "SASL_PLAINTEXT": ProtocolSASLPlaintext, "INTERNAL": ProtocolSSL}},
		{name: "SASL_SSL without cert", args: []string{"--listeners", "SASL_SSL://a:1"},
			wantErr: []string{"listener SASL_SSL is SSL: set --tls-cert-file and --tls-key-file"}},
		{name: "SASL only", args: []string{"--listeners", "SASL_PLAINTEXT://a:1"},
			wantErr: []string{"listener SASL_PLAINTEXT is SASL_PLAINTEXT, but the broker's own clients", "add a PLAINTEXT or SSL listener named INTERNAL"}},
		{name: "SSL without cert", args: []string{"--listeners", "EXTERNAL://a:1", "--listener-security-protocol-map", "EXTERNAL:SSL"},
			wantErr: []string{"listener EXTERNAL is SSL: set --tls-cert-file and --tls-key-file"}},
		{name: "unreadable cert", args: []string{"--listeners", "SSL://a:1", "--tls-cert-file", filepath.Join(dir, "missing.pem"), "--tls-key-file", key},
			wantErr: []string{"--tls-cert-file: open", "missing.pem"}},
		{name: "client auth without CA", args: append([]string{"--listeners", "SSL://a:1", "--tls-client-auth", "required"}, tlsArgs...),
			wantErr: []string{"listener SSL asks for client certificates (--tls-client-auth required): set --tls-client-ca-file"}},
		{name: "per-listener client auth needs no CA where none", args: append([]string{"--listeners", "INTERNAL://a:1,EXTERNAL://a:2", "--listener-security-protocol-map", "INTERNAL:SSL,EXTERNAL:SASL_SSL",
			"--tls-client-auth", "required", "--listener-tls-client-auth", "internal:none, EXTERNAL:None"}, tlsArgs...),
			want: map[string]string{"INTERNAL": ProtocolSSL, "EXTERNAL": ProtocolSASLSSL}},
		{name: "per-listener client auth without CA", args: append([]string{"--listeners", "INTERNAL://a:1,EXTERNAL://a:2", "--listener-security-protocol-map", "INTERNAL:SSL,EXTERNAL:SASL_SSL",
			"--listener-tls-client-auth", "INTERNAL:required"}, tlsArgs...),
			wantErr: []string{"listener INTERNAL asks for client certificates (--tls-client-auth required): set --tls-client-ca-file"}},
		{name: "per-listener client auth on an unknown listener", args: append([]string{"--listeners", "SSL://a:1", "--listener-tls-client-auth", "EXTRENAL:none"}, tlsArgs...),
			wantErr: []string{"--listener-tls-client-auth names EXTRENAL, which is not in --listeners"}},
		{name: "per-listener client auth on a plaintext listener", args: append([]string{"--listeners", "SSL://a:1,PLAINTEXT://a:2", "--listener-tls-client-auth", "PLAINTEXT:required"}, tlsArgs...),
			wantErr: []string{"--listener-tls-client-auth names PLAINTEXT, a PLAINTEXT listener"}},
		{name: "per-listener client auth malformed", args: append([]string{"--listeners", "SSL://a:1", "--listener-tls-client-auth", "SSL:maybe,SSL"}, tlsArgs...),
			wantErr: []string{`"SSL:maybe": mode must be none, requested or required`, `"SSL": want NAME:MODE`}},
		{name: "bad client auth", args: append([]string{"--listeners", "SSL://a:1", "--tls-client-auth", "want"}, tlsArgs...),
			wantErr: []string{`--tls-client-auth "want": use none, requested or required`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(tc.args, envMap(nil))
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("Parse(%q) = nil error, want %q", tc.args, tc.wantErr)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.args, err)
			}
			for l, mode := range c.TLS.ListenerClientAuth {
				if want := map[string]string{"INTERNAL": "none", "EXTERNAL": "none"}[l]; mode != want {
					t.Errorf("listener %s client auth %q, want %q", l, mode, want)
				}
			}
			got := map[string]string{}
			for _, l := range c.Listeners {
				got[l.Name] = l.Protocol
			}
			for name, p := range tc.want {
				if got[name] != p {
					t.Errorf("listener %s protocol = %q, want %q", name, got[name], p)
				}
			}
		})
	}
}
