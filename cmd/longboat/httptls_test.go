package main

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/longboat/longboat/internal/tlscert/tlstest"
)

// TestHTTPSClients: the healthcheck and cluster status reach a broker
// HTTP port served over TLS (--http-tls) when told to, trusting the CA
// they are given, and fail against it when not.
func TestHTTPSClients(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "cluster")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			w.Write([]byte("OK\n"))
		case "/v1/status":
			w.Write([]byte(`{"node_id":1,"version":"v-test","ready":true}`))
		default:
			http.NotFound(w, r)
		}
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server(t, "broker1").TLSCert(t)}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "https://")

	if err := healthcheck([]string{"--timeout", "30s", "--http-addr", addr, "--http-tls", "--ca-file", ca.CertFile}); err != nil {
		t.Errorf("healthcheck over HTTPS: %v", err)
	}
	if err := healthcheck([]string{"--timeout", "30s", "--http-addr", addr}); err == nil {
		t.Error("plain-HTTP healthcheck of an HTTPS port passed")
	}
	if err := healthcheck([]string{"--timeout", "30s", "--http-addr", addr, "--http-tls"}); err == nil {
		t.Error("healthcheck trusting only the system CAs passed")
	}

	props := filepath.Join(dir, "client.properties")
	if err := os.WriteFile(props, []byte("security.protocol=SSL\nssl.ca.location="+ca.CertFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cf := &clientFlags{commandConfig: props}
	hc, err := cf.httpClient()
	if err != nil {
		t.Fatal(err)
	}
	st, err := fetchStatus(context.Background(), hc, "https://"+addr)
	if err != nil || st.NodeID != 1 || st.Version != "v-test" {
		t.Errorf("status over HTTPS: %+v, %v", st, err)
	}
	if _, err := fetchStatus(context.Background(), hc, addr); err == nil {
		t.Error("status asked over plain HTTP of an HTTPS port answered")
	}
}
