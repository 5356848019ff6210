package kafka_test

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/kafka"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/tlscert/tlstest"
)

// tlsBroker is one broker with a PLAINTEXT listener and two SSL ones
// (mapped from the names SECURE and OPEN), certificates from a CA made in
// the test; SECURE asks for client certificates as the test says
// (--tls-client-auth), OPEN never (--listener-tls-client-auth OPEN:none).
type tlsBroker struct {
	c          *testcluster.Cluster
	ca         *tlstest.CA
	sslAddr    string
	openAddr   string
	mu         sync.Mutex
	principals map[string]bool // seen on the SSL listener
}

func startTLSBroker(t *testing.T, clientAuth string) *tlsBroker {
	t.Helper()
	dir := t.TempDir()
	tb := &tlsBroker{ca: tlstest.NewCA(t, dir, "test"), principals: map[string]bool{}}
	server := tb.ca.Server(t, "broker")
	for _, addr := range []*string{&tb.sslAddr, &tb.openAddr} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		*addr = ln.Addr().String()
		ln.Close()
	}
	_, port, _ := net.SplitHostPort(tb.sslAddr)
	tb.c = testcluster.Start(t, testcluster.Options{Nodes: 1, Adjust: func(cfg *config.Config) {
		args := []string{
			"--listeners", cfg.Listeners[0].Name + "://" + cfg.Listeners[0].Addr() + ",SECURE://" + tb.sslAddr + ",OPEN://" + tb.openAddr,
			"--listener-security-protocol-map", "SECURE:SSL,OPEN:SSL",
			"--tls-cert-file", server.CertFile, "--tls-key-file", server.KeyFile,
			"--tls-client-ca-file", tb.ca.CertFile, "--tls-client-auth", clientAuth, "--listener-tls-client-auth", "OPEN:none",
		}
		parsed, err := config.Parse(args, func(string) string { return "" })
		if err != nil {
			t.Errorf("TLS flags: %v", err)
			return
		}
		cfg.Listeners, cfg.AdvertisedListeners, cfg.TLS = parsed.Listeners, parsed.AdvertisedListeners, parsed.TLS
	}})
	if got := tb.c.Configs[0].Listeners[1]; got.Protocol != config.ProtocolSSL || fmt.Sprint(got.Port) != port {
		t.Fatalf("SSL listener = %+v", got)
	}
	tb.c.Brokers[0].Kafka.SetRequestObserver(func(r kafka.ClientRequest) {
		if r.Listener == "SECURE" {
			tb.mu.Lock()
			tb.principals[r.Principal] = true
			tb.mu.Unlock()
		}
	})
	return tb
}

func (tb *tlsBroker) sawPrincipal(p string) bool {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.principals[p]
}

func (tb *tlsBroker) client(t *testing.T, cert *tls.Certificate, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return tb.clientOf(t, tb.sslAddr, cert, opts...)
}

func (tb *tlsBroker) clientOf(t *testing.T, addr string, cert *tls.Certificate, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cfg := &tls.Config{RootCAs: tb.ca.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.DialTLSConfig(cfg),
		kgo.RetryTimeout(5 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produceConsume writes n records to a new topic and reads them back.
func produceConsume(t *testing.T, tb *tlsBroker, cert *tls.Certificate, topic string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	adm := kadm.NewClient(tb.client(t, cert))
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatalf("create %s over TLS: %v", topic, err)
	}
	prod := tb.client(t, cert, kgo.DefaultProduceTopic(topic))
	for i := range n {
		if err := prod.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("tls-%d", i))).FirstErr(); err != nil {
			t.Fatalf("produce %d over TLS: %v", i, err)
		}
	}
	cons := tb.client(t, cert, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for len(got) < n && ctx.Err() == nil {
		cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if len(got) != n || got[0] != "tls-0" || got[n-1] != fmt.Sprintf("tls-%d", n-1) {
		t.Fatalf("consumed %d records over TLS %q, want tls-0..tls-%d", len(got), got, n-1)
	}
}

func runKcat(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestTLSListener serves franz-go and kcat over an SSL listener that
// verifies client certificates when given, and closes a plaintext client
// that connects to it.
func TestTLSListener(t *testing.T) {
	t.Parallel()
	tb := startTLSBroker(t, config.TLSClientAuthRequested)

	produceConsume(t, tb, nil, "tls-anonymous", 20)
	if !tb.sawPrincipal("User:ANONYMOUS") {
		t.Error("a client without a certificate was not User:ANONYMOUS")
	}
	alice := tb.ca.Client(t, "alice").TLSCert(t)
	produceConsume(t, tb, &alice, "tls-alice", 5)
	if !tb.sawPrincipal("User:alice") {
		t.Error("a client with certificate CN=alice was not recorded as User:alice")
	}

	ssl := []string{"-b", tb.sslAddr, "-X", "security.protocol=ssl", "-X", "ssl.ca.location=" + tb.ca.CertFile}
	if out, err := runKcat(t, "k1\nk2\nk3\n", append(ssl, "-P", "-t", "tls-anonymous")...); err != nil {
		t.Fatalf("kcat produce over SSL: %v\n%s", err, out)
	}
	out, err := runKcat(t, "", append(ssl, "-C", "-t", "tls-anonymous", "-e", "-q", "-f", "%s\n")...)
	if err != nil {
		t.Fatalf("kcat consume over SSL: %v\n%s", err, out)
	}
	if lines := strings.Fields(out); len(lines) != 23 || lines[20] != "k1" || lines[22] != "k3" {
		t.Fatalf("kcat consumed %q, want tls-0..tls-19 then k1..k3", lines)
	}

	// A Kafka client speaking plaintext to the SSL port: the handshake
	// fails, the broker closes the connection and goes on serving.
	raw, err := net.DialTimeout("tcp", tb.sslAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	req := []byte{0, 18, 0, 0, 0, 0, 0, 1, 0, 0} // ApiVersions v0, correlation 1, no client id
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(req)))
	if _, err := raw.Write(append(frame, req...)); err != nil {
		t.Fatal(err)
	}
	_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	for err == nil {
		_, err = raw.Read(buf)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the broker kept a plaintext connection to its SSL listener open")
	}
	produceConsume(t, tb, nil, "tls-after-plaintext", 1)
}

// TestTLSClientAuthRequired refuses clients without a certificate signed
// by --tls-client-ca-file and serves those with one.
func TestTLSClientAuthRequired(t *testing.T) {
	t.Parallel()
	tb := startTLSBroker(t, config.TLSClientAuthRequired)
	bob := tb.ca.Client(t, "bob")
	ssl := []string{"-b", tb.sslAddr, "-X", "security.protocol=ssl", "-X", "ssl.ca.location=" + tb.ca.CertFile}
	withCert := append(ssl[:len(ssl):len(ssl)], "-X", "ssl.certificate.location="+bob.CertFile, "-X", "ssl.key.location="+bob.KeyFile)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bobCert := bob.TLSCert(t)
	if _, err := kadm.NewClient(tb.client(t, &bobCert)).CreateTopic(ctx, 1, 1, nil, "mtls"); err != nil {
		t.Fatalf("franz-go with a client certificate: %v", err)
	}
	if out, err := runKcat(t, "m1\nm2\n", append(withCert, "-P", "-t", "mtls")...); err != nil {
		t.Fatalf("kcat with a client certificate: %v\n%s", err, out)
	}
	if !tb.sawPrincipal("User:bob") {
		t.Error("kcat's certificate CN=bob was not recorded as User:bob")
	}
	if out, err := runKcat(t, "", append(ssl, "-L", "-m", "3")...); err == nil {
		t.Fatalf("kcat without a client certificate listed metadata:\n%s", out)
	}
	if err := tb.client(t, nil).Ping(ctx); err == nil {
		t.Fatal("franz-go without a client certificate reached the broker")
	}

	// --listener-tls-client-auth OPEN:none: the same broker serves clients
	// without a certificate on OPEN, and sends a certificate request on
	// SECURE only.
	open := tb.clientOf(t, tb.openAddr, nil, kgo.DefaultProduceTopic("mtls"))
	if err := open.ProduceSync(ctx, kgo.StringRecord("open")).FirstErr(); err != nil {
		t.Fatalf("franz-go without a client certificate on OPEN: %v", err)
	}
	if !tb.sawPrincipal("User:bob") || tb.sawPrincipal("User:ANONYMOUS") {
		t.Error("a client of OPEN was seen on SECURE")
	}
	for addr, want := range map[string]bool{tb.sslAddr: true, tb.openAddr: false} {
		asked := false
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: tb.ca.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS12,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				asked = true
				return &bobCert, nil
			}})
		if err != nil {
			t.Fatalf("handshake with %s: %v", addr, err)
		}
		conn.Close()
		if asked != want {
			t.Errorf("listener %s asked for a client certificate: %v, want %v", addr, asked, want)
		}
	}
	if out, err := runKcat(t, "", "-b", tb.openAddr, "-X", "security.protocol=ssl", "-X", "ssl.ca.location="+tb.ca.CertFile, "-C", "-t", "mtls", "-e", "-q", "-f", "%s\n"); err != nil || !strings.Contains(out, "open") {
		t.Fatalf("kcat without a client certificate on OPEN: %v\n%s", err, out)
	}
}
