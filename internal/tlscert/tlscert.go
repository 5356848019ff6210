// Package tlscert holds the certificate that a broker's SSL listeners
// present and the CAs that client certificates must chain to, swapped
// atomically on reload so that open connections are untouched and new
// handshakes see the new files.
package tlscert

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/config"
)

// Anonymous is the principal of a connection without a client certificate
// (Kafka's User:ANONYMOUS).
const Anonymous = "User:ANONYMOUS"

// Store serves the current certificates to TLS handshakes.
type Store struct {
	cfg     config.TLS
	log     zerolog.Logger
	current atomic.Pointer[loaded] // the whole per-handshake configs, rebuilt on reload
}

// loaded is one reading of the files: a handshake config per client
// certificate mode, since listeners may ask for client certificates
// differently (--listener-tls-client-auth) and the HTTP port asks for them
// only to tell brokers apart.
type loaded struct {
	byMode map[string]*tls.Config
}

func (l *loaded) any() *tls.Config { return l.byMode[config.TLSClientAuthNone] }

// Load reads the files named by cfg once; an error says which flag's file
// is wrong.
func Load(cfg config.TLS, log zerolog.Logger) (*Store, error) {
	s := &Store{cfg: cfg, log: log.With().Str("component", "tls").Logger()}
	c, err := s.build()
	if err != nil {
		return nil, err
	}
	s.current.Store(c)
	return s, nil
}

// Reload rereads the files; on error the previous certificates stay in use.
func (s *Store) Reload() error {
	c, err := s.build()
	if err != nil {
		s.log.Error().Err(err).Msg("TLS reload failed; still serving the previous certificate")
		return err
	}
	s.current.Store(c)
	leaf := c.any().Certificates[0].Leaf
	s.log.Info().Str("subject", leaf.Subject.String()).Time("not_after", leaf.NotAfter).Msg("TLS certificates reloaded")
	return nil
}

// ServerConfig is a listener's config, asking for client certificates as
// clientAuth (none, requested or required) says: each handshake takes the
// certificates current at that moment.
func (s *Store) ServerConfig(clientAuth string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			if c, ok := s.current.Load().byMode[clientAuth]; ok {
				return c, nil
			}
			return nil, fmt.Errorf("client certificate mode %q", clientAuth)
		},
	}
}

// ClientConfig is for the broker's own clients of an SSL listener (the
// transaction coordinator's markers, the web console): it trusts the
// client CA (peers' certificates are expected to chain to the CA the
// cluster uses for clients too), else the system roots, and presents the
// broker's current certificate when the listener asks for one and the
// certificate may authenticate a client (an extended key usage of
// clientAuth, or none).
func (s *Store) ClientConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    s.current.Load().any().ClientCAs,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert := &s.current.Load().any().Certificates[0]
			if !clientUsable(cert.Leaf) {
				return &tls.Certificate{}, nil
			}
			return cert, nil
		},
	}
}

func clientUsable(c *x509.Certificate) bool {
	if len(c.ExtKeyUsage) == 0 {
		return true
	}
	for _, u := range c.ExtKeyUsage {
		if u == x509.ExtKeyUsageClientAuth || u == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}

// Leaf returns the certificate served to new connections.
func (s *Store) Leaf() *x509.Certificate { return s.current.Load().any().Certificates[0].Leaf }

func (s *Store) build() (*loaded, error) {
	cert, err := tls.LoadX509KeyPair(s.cfg.CertFile, s.cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert-file %s with --tls-key-file %s: %w", s.cfg.CertFile, s.cfg.KeyFile, err)
	}
	if cert.Leaf == nil { // GODEBUG=x509keypairleaf=0 leaves it empty
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("--tls-cert-file %s: %w", s.cfg.CertFile, err)
		}
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, ClientAuth: tls.NoClientCert}
	out := &loaded{byMode: map[string]*tls.Config{config.TLSClientAuthNone: c}}
	if s.cfg.ClientCAFile == "" {
		// Nothing to verify client certificates against: config
		// validation refuses a listener that asks for them.
		out.byMode[config.TLSClientAuthRequested] = c
		out.byMode[config.TLSClientAuthRequired] = c
		return out, nil
	}
	pem, err := os.ReadFile(s.cfg.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-client-ca-file: %w", err)
	}
	c.ClientCAs = x509.NewCertPool()
	if !c.ClientCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--tls-client-ca-file %s: no PEM certificate in it", s.cfg.ClientCAFile)
	}
	for mode, auth := range map[string]tls.ClientAuthType{config.TLSClientAuthRequested: tls.VerifyClientCertIfGiven, config.TLSClientAuthRequired: tls.RequireAndVerifyClientCert} {
		m := c.Clone()
		m.ClientAuth = auth
		out.byMode[mode] = m
	}
	return out, nil
}

// Principal is the Kafka principal of a TLS connection: User:<CN> of a
// verified client certificate, else User:ANONYMOUS.
func Principal(cs tls.ConnectionState) string {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return Anonymous
	}
	cn := cs.VerifiedChains[0][0].Subject.CommonName
	if cn == "" {
		return Anonymous
	}
	return "User:" + cn
}

// ClientPrincipal is the principal the broker's own clients have on an SSL
// listener that asks for client certificates: User:<CN> of its certificate
// when it may authenticate a client, else User:ANONYMOUS.
func (s *Store) ClientPrincipal() string {
	leaf := s.Leaf()
	if !clientUsable(leaf) || leaf.Subject.CommonName == "" {
		return Anonymous
	}
	return "User:" + leaf.Subject.CommonName
}
