package main

import (
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
	resp, err := cl.Get("http://" + net.JoinHostPort(host, port) + "/readyz")
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
