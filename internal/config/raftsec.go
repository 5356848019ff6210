package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
)

// validateRaftTLS checks, with --raft-tls, what dragonboat would only
// report as failed handshakes at run time: the broker's certificate must
// chain to the CA that peers trust, serve as a server certificate for the
// host peers dial (--raft-addr's, as --initial-members names it) and as a
// client certificate, because each broker both accepts and opens Raft
// connections with the same certificate.
func (c *Config) validateRaftTLS() []error {
	if !c.RaftTLS {
		return nil
	}
	if c.TLS.CertFile == "" || c.TLS.KeyFile == "" || c.TLS.ClientCAFile == "" {
		return []error{errors.New("--raft-tls: set --tls-cert-file and --tls-key-file (this broker's PEM certificate and key) and --tls-client-ca-file (the CA that signs every broker's certificate)")}
	}
	pair, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
	if err != nil {
		return []error{fmt.Errorf("--raft-tls: --tls-cert-file %s with --tls-key-file %s: %w", c.TLS.CertFile, c.TLS.KeyFile, err)}
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return []error{fmt.Errorf("--raft-tls: --tls-cert-file %s: %w", c.TLS.CertFile, err)}
	}
	caPEM, err := os.ReadFile(c.TLS.ClientCAFile)
	if err != nil {
		return []error{fmt.Errorf("--raft-tls: --tls-client-ca-file: %w", err)}
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return []error{fmt.Errorf("--raft-tls: --tls-client-ca-file %s holds no PEM certificate", c.TLS.ClientCAFile)}
	}
	inter := x509.NewCertPool()
	for _, der := range pair.Certificate[1:] {
		if ic, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(ic)
		}
	}
	host, _, _ := net.SplitHostPort(c.RaftAddr)
	var errs []error
	for _, use := range []struct {
		name  string
		usage x509.ExtKeyUsage
	}{{"serverAuth", x509.ExtKeyUsageServerAuth}, {"clientAuth", x509.ExtKeyUsageClientAuth}} {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{use.usage}})
		if err != nil {
			errs = append(errs, fmt.Errorf("--raft-tls: --tls-cert-file %s does not verify for %s against --tls-client-ca-file %s (%w): issue it from that CA with extendedKeyUsage serverAuth,clientAuth (scripts/gen-certs.sh does)",
				c.TLS.CertFile, use.name, c.TLS.ClientCAFile, err))
		}
	}
	if host != "" {
		if err := leaf.VerifyHostname(host); err != nil {
			errs = append(errs, fmt.Errorf("--raft-tls: --tls-cert-file %s does not name %s, the host of --raft-addr that peers dial (%w): add it to the certificate's subjectAltName", c.TLS.CertFile, host, err))
		}
	}
	return errs
}
