package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// healthcheck asks this broker's own /readyz (container images have no
// curl); the exit code is the answer.
func healthcheck(args []string) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	def := os.Getenv("LONGBOAT_HTTP_ADDR")
	if def == "" {
		def = "127.0.0.1:13092"
	}
	addr := fs.String("http-addr", def, "the broker's HTTP address (default: $LONGBOAT_HTTP_ADDR)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	useTLS := fs.Bool("http-tls", os.Getenv("LONGBOAT_HTTP_TLS") == "true", "ask over HTTPS, as a broker with --http-tls serves (default: $LONGBOAT_HTTP_TLS)")
	caFile := fs.String("ca-file", os.Getenv("LONGBOAT_TLS_CLIENT_CA_FILE"), "PEM CA that the broker's certificate chains to, with --http-tls (default: $LONGBOAT_TLS_CLIENT_CA_FILE)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	host, port, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("--http-addr %q: %w", *addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	cl := &http.Client{Timeout: *timeout}
	scheme := "http"
	if *useTLS {
		scheme = "https"
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if *caFile != "" {
			pem, err := os.ReadFile(*caFile)
			if err != nil {
				return fmt.Errorf("--ca-file: %w", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return fmt.Errorf("--ca-file %s: no PEM certificate in it", *caFile)
			}
		}
		cl.Transport = &http.Transport{TLSClientConfig: cfg}
	}
	resp, err := cl.Get(scheme + "://" + net.JoinHostPort(host, port) + "/readyz")
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: /readyz answered %s", resp.Status)
	}
	fmt.Println("ready")
	return nil
}
