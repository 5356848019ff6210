package broker

import (
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/tlscert"
	"github.com/longboat/longboat/internal/tlscert/tlstest"
)

// TestCheckOwnPrincipal: --authorizer acl starts only when the principal
// of the broker's own clients on the internal listener is a super user:
// User:ANONYMOUS on PLAINTEXT, the certificate's User:<CN> on SSL with
// client certificates.
func TestCheckOwnPrincipal(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "test")
	// A certificate that may authenticate a client: the broker presents it
	// to its own SSL listener.
	both := ca.Client(t, "broker1")
	parse := func(args ...string) *config.Config {
		t.Helper()
		cfg, err := config.Parse(append([]string{"--data-dir", dir}, args...), func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	plain := []string{"--listeners", "INTERNAL://127.0.0.1:1,SASL_PLAINTEXT://127.0.0.1:2", "--listener-security-protocol-map", "INTERNAL:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT", "--authorizer", "acl"}
	if err := checkOwnPrincipal(parse(plain...), nil); err == nil || !strings.Contains(err.Error(), "User:ANONYMOUS") {
		t.Errorf("PLAINTEXT internal listener without User:ANONYMOUS super user: %v", err)
	}
	if err := checkOwnPrincipal(parse(append(plain, "--super-users", "User:admin;User:ANONYMOUS")...), nil); err != nil {
		t.Errorf("with User:ANONYMOUS: %v", err)
	}
	if err := checkOwnPrincipal(parse("--listeners", "PLAINTEXT://127.0.0.1:1"), nil); err != nil {
		t.Errorf("--authorizer none: %v", err)
	}
	ssl := []string{"--listeners", "INTERNAL://127.0.0.1:1", "--listener-security-protocol-map", "INTERNAL:SSL", "--authorizer", "acl",
		"--tls-cert-file", both.CertFile, "--tls-key-file", both.KeyFile, "--tls-client-ca-file", ca.CertFile, "--tls-client-auth", "required"}
	cfg := parse(ssl...)
	certs, err := tlscert.Load(cfg.TLS, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	want := "User:broker1"
	if got := certs.ClientPrincipal(); got != want {
		t.Fatalf("client principal %s, want %s", got, want)
	}
	if err := checkOwnPrincipal(cfg, certs); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("SSL internal listener without %s: %v", want, err)
	}
	if err := checkOwnPrincipal(parse(append(ssl, "--super-users", want)...), certs); err != nil {
		t.Errorf("with %s: %v", want, err)
	}
	// A server-only certificate is not presented as a client's: the
	// broker's clients are User:ANONYMOUS.
	server := ca.Server(t, "broker1")
	serverOnly, err := tlscert.Load(config.TLS{CertFile: server.CertFile, KeyFile: server.KeyFile}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if got := serverOnly.ClientPrincipal(); got != tlscert.Anonymous {
		t.Errorf("server-only certificate: client principal %s", got)
	}
}
