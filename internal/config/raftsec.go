package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
)

// validateRaftTLS checks, with --raft-tls, what dragonboat would only
// report as failed handshakes at run time (see checkPeerCert): peers dial
// the host of --raft-addr, as --initial-members names it.
func (c *Config) validateRaftTLS() []error {
	if !c.RaftTLS {
		return nil
	}
	host, _, _ := net.SplitHostPort(c.RaftAddr)
	return c.checkPeerCert("--raft-tls", "--raft-addr", host)
}

// validateHTTPTLS checks --http-tls the same way: the other brokers dial
// the advertised HTTP address and present their certificates on it.
func (c *Config) validateHTTPTLS() []error {
	if !c.HTTPTLS {
		return nil
	}
	host, _, _ := net.SplitHostPort(c.AdvertisedHTTP())
	return c.checkPeerCert("--http-tls", "--advertised-http-addr (or --http-addr)", host)
}

// checkPeerCert checks the broker's certificate for a port that brokers
// use among themselves with mutual TLS: it must chain to the CA that peers
// trust, serve as a server certificate for host (which the peers dial,
// named by hostFlag) and as a client certificate, because each broker both
// accepts and opens those connections with the same certificate.
func (c *Config) checkPeerCert(flag, hostFlag, host string) []error {
	if c.TLS.CertFile == "" || c.TLS.KeyFile == "" || c.TLS.ClientCAFile == "" {
		return []error{fmt.Errorf("%s: set --tls-cert-file and --tls-key-file (this broker's PEM certificate and key) and --tls-client-ca-file (the CA that signs every broker's certificate)", flag)}
	}
	pair, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
	if err != nil {
		return []error{fmt.Errorf("%s: --tls-cert-file %s with --tls-key-file %s: %w", flag, c.TLS.CertFile, c.TLS.KeyFile, err)}
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return []error{fmt.Errorf("%s: --tls-cert-file %s: %w", flag, c.TLS.CertFile, err)}
	}
	caPEM, err := os.ReadFile(c.TLS.ClientCAFile)
	if err != nil {
		return []error{fmt.Errorf("%s: --tls-client-ca-file: %w", flag, err)}
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return []error{fmt.Errorf("%s: --tls-client-ca-file %s holds no PEM certificate", flag, c.TLS.ClientCAFile)}
	}
	inter := x509.NewCertPool()
	for _, der := range pair.Certificate[1:] {
		if ic, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(ic)
		}
	}
	var errs []error
	for _, use := range []struct {
		name  string
		usage x509.ExtKeyUsage
	}{{"serverAuth", x509.ExtKeyUsageServerAuth}, {"clientAuth", x509.ExtKeyUsageClientAuth}} {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{use.usage}})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: --tls-cert-file %s does not verify for %s against --tls-client-ca-file %s (%w): issue it from that CA with extendedKeyUsage serverAuth,clientAuth (scripts/gen-certs.sh does)",
				flag, c.TLS.CertFile, use.name, c.TLS.ClientCAFile, err))
		}
	}
	if host != "" {
		if err := leaf.VerifyHostname(host); err != nil {
			errs = append(errs, fmt.Errorf("%s: --tls-cert-file %s does not name %s, the host of %s that peers dial (%w): add it to the certificate's subjectAltName", flag, c.TLS.CertFile, host, hostFlag, err))
		}
	}
	return errs
}
