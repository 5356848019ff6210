package compat

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/tlscert/tlstest"
)

// TestJavaSSL runs the Java client against an SSL listener that requires
// client certificates: PEM truststore and PEM keystore, as Kafka's
// ssl.truststore.type=PEM and ssl.keystore.type=PEM read them.
func TestJavaSSL(t *testing.T) {
	t.Parallel() // its own broker; the shared JVM takes one request at a time
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "test")
	server, client := ca.Server(t, "broker"), ca.Client(t, "java")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sslAddr := ln.Addr().String()
	ln.Close()
	c := testcluster.Start(t, testcluster.Options{Nodes: 1, Adjust: func(cfg *config.Config) {
		parsed, err := config.Parse([]string{
			"--listeners", "SSL://" + sslAddr,
			"--tls-cert-file", server.CertFile, "--tls-key-file", server.KeyFile,
			"--tls-client-ca-file", ca.CertFile, "--tls-client-auth", config.TLSClientAuthRequired,
		}, func(string) string { return "" })
		if err != nil {
			t.Errorf("TLS flags: %v", err)
			return
		}
		cfg.Listeners, cfg.AdvertisedListeners, cfg.TLS = parsed.Listeners, parsed.AdvertisedListeners, parsed.TLS
	}})
	// Kafka's PEM keystore is one file: the certificate chain and the key.
	keystore := filepath.Join(dir, "java-keystore.pem")
	var pem []byte
	for _, f := range []string{client.CertFile, client.KeyFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pem = append(pem, b...)
	}
	if err := os.WriteFile(keystore, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	java, stop, err := newJavaClient(c.Addrs(), "", capabilities{binary: true})
	if err != nil {
		t.Skipf("java: %v", err)
	}
	defer stop()
	java.props = map[string]string{
		"security.protocol":       "SSL",
		"ssl.truststore.type":     "PEM",
		"ssl.truststore.location": ca.CertFile,
		"ssl.keystore.type":       "PEM",
		"ssl.keystore.location":   keystore,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The driver creates topics with three replicas; this cluster has one
	// broker, so franz-go creates it, over TLS too.
	clientCert := client.TLSCert(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(sslAddr), kgo.DialTLSConfig(&tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", Certificates: []tls.Certificate{clientCert}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "java-ssl"); err != nil {
		t.Fatal(err)
	}
	var recs []rec
	for i := range 5 {
		recs = append(recs, rec{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("ssl-%d", i))})
	}
	if err := java.produce(ctx, "java-ssl", produceOpts{acks: -1, codec: "none"}, recs); err != nil {
		t.Fatal(err)
	}
	got, err := java.consume(ctx, "java-ssl", []prange{{Partition: 0, From: 0, To: 5}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || string(got[0].Value) != "ssl-0" || string(got[4].Value) != "ssl-4" {
		t.Fatalf("Java consumed %d records over SSL: %+v", len(got), got)
	}
}
