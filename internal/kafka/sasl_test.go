package kafka_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/kafka"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/tlscert/tlstest"
)

// saslReauth is the test cluster's --connections-max-reauth-ms: short, so
// that sessions expire within the test.
const saslReauth = 1500 * time.Millisecond

// saslEnv is a one-broker cluster with a SASL_PLAINTEXT listener and a
// SASL_SSL one (named EXTERNAL, mapped) beside its PLAINTEXT one, formed
// with the bootstrap user admin:secret.
type saslEnv struct {
	c        *testcluster.Cluster
	ca       *tlstest.CA
	saslAddr string // SASL_PLAINTEXT
	sslAddr  string // SASL_SSL
	mu       sync.Mutex
	seen     map[string]bool // listener principal pairs of served requests
}

func newSASLEnv(t *testing.T) *saslEnv {
	addrs := testcluster.FreeAddrs(t, 2)
	e := &saslEnv{ca: tlstest.NewCA(t, t.TempDir(), "test"), saslAddr: addrs[0], sslAddr: addrs[1], seen: map[string]bool{}}
	server := e.ca.Server(t, "broker")
	e.c = testcluster.Start(t, testcluster.Options{Nodes: 1, Adjust: func(cfg *config.Config) {
		parsed, err := config.Parse([]string{
			"--listeners", cfg.Listeners[0].Name + "://" + cfg.Listeners[0].Addr() + ",SASL_PLAINTEXT://" + e.saslAddr + ",EXTERNAL://" + e.sslAddr,
			"--listener-security-protocol-map", "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,EXTERNAL:SASL_SSL",
			"--tls-cert-file", server.CertFile, "--tls-key-file", server.KeyFile,
			"--bootstrap-scram-users", "admin:secret",
			"--connections-max-reauth-ms", fmt.Sprint(saslReauth.Milliseconds()),
		}, func(string) string { return "" })
		if err != nil {
			t.Errorf("SASL flags: %v", err)
			return
		}
		cfg.Listeners, cfg.AdvertisedListeners, cfg.TLS, cfg.SASL = parsed.Listeners, parsed.AdvertisedListeners, parsed.TLS, parsed.SASL
	}})
	e.c.Brokers[0].Kafka.SetRequestObserver(func(r kafka.ClientRequest) {
		e.mu.Lock()
		e.seen[r.Listener+" "+r.Principal] = true
		e.mu.Unlock()
	})
	return e
}

func (e *saslEnv) saw(listenerPrincipal string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.seen[listenerPrincipal]
}

func (e *saslEnv) client(t *testing.T, m sasl.Mechanism, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(e.saslAddr), kgo.SASL(m), kgo.RequestRetries(0)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestSASL drives SaslHandshake, SaslAuthenticate and the SCRAM credential
// APIs with franz-go, kcat and raw requests against a real broker.
func TestSASL(t *testing.T) {
	t.Parallel()
	e := newSASLEnv(t)
	if !t.Run("mechanisms", e.testMechanisms) {
		return // the rest needs the topic
	}
	t.Run("bad credentials", e.testBadCredentials)
	t.Run("credential APIs", e.testCredentialAPIs)
	t.Run("gate", e.testGate)
	t.Run("session expiry", e.testSessionExpiry)
	t.Run("handshake v0", e.testHandshakeV0)
	t.Run("plaintext listener", e.testPlaintextListener)
	t.Run("SASL_SSL", e.testSASLSSL)
	t.Run("kcat", e.testKcat)
}

// testSASLSSL: SCRAM over TLS on a listener mapped to SASL_SSL; requests
// there carry the SASL principal, not the TLS one.
func (e *saslEnv) testSASLSSL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tlsCfg := &tls.Config{RootCAs: e.ca.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS12}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.sslAddr), kgo.DialTLSConfig(tlsCfg), kgo.RequestRetries(0),
		kgo.SASL(scram.Auth{User: "admin", Pass: "secret"}.AsSha512Mechanism()), kgo.DefaultProduceTopic("sasl-topic"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("over TLS")}).FirstErr(); err != nil {
		t.Fatalf("produce over SASL_SSL: %v", err)
	}
	if !e.saw("EXTERNAL User:admin") || !e.saw("SASL_PLAINTEXT User:admin") {
		t.Error("requests on the SASL listeners were not seen as User:admin")
	}
	cl2, err := kgo.NewClient(kgo.SeedBrokers(e.sslAddr), kgo.DialTLSConfig(tlsCfg), kgo.RequestRetries(0),
		kgo.SASL(scram.Auth{User: "admin", Pass: "wrong"}.AsSha512Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl2); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Errorf("wrong password over SASL_SSL: %v", err)
	}
}

// testMechanisms: the bootstrap user produces and consumes with each
// mechanism, and across more than two session lifetimes (franz-go
// re-authenticates, KIP-368).
func (e *saslEnv) testMechanisms(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(e.client(t, scram.Auth{User: "admin", Pass: "secret"}.AsSha512Mechanism()))
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "sasl-topic"); err != nil {
		t.Fatalf("create topic over SASL: %v", err)
	}
	for _, m := range []sasl.Mechanism{
		scram.Auth{User: "admin", Pass: "secret"}.AsSha256Mechanism(),
		scram.Auth{User: "admin", Pass: "secret"}.AsSha512Mechanism(),
		plain.Auth{User: "admin", Pass: "secret"}.AsMechanism(),
	} {
		cl := e.client(t, m, kgo.DefaultProduceTopic("sasl-topic"))
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(m.Name())}).FirstErr(); err != nil {
			t.Fatalf("%s produce: %v", m.Name(), err)
		}
	}
	cl := e.client(t, scram.Auth{User: "admin", Pass: "secret"}.AsSha256Mechanism(), kgo.DefaultProduceTopic("sasl-topic"))
	for i := range 3 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("reauth")}).FirstErr(); err != nil {
			t.Fatalf("produce %d, %v after the first: %v", i, time.Duration(i)*saslReauth, err)
		}
		time.Sleep(saslReauth)
	}
	consumer := e.client(t, plain.Auth{User: "admin", Pass: "secret"}.AsMechanism(), kgo.ConsumeTopics("sasl-topic"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < 6 {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume after %d records: %v", got, err)
		}
		got += fs.NumRecords()
	}
}

// testBadCredentials: a wrong password and an unknown user fail with
// SASL_AUTHENTICATION_FAILED for every mechanism.
func (e *saslEnv) testBadCredentials(t *testing.T) {
	for _, c := range []struct{ user, pass string }{{"admin", "wrong"}, {"nobody", "secret"}} {
		for _, m := range []sasl.Mechanism{
			scram.Auth{User: c.user, Pass: c.pass}.AsSha256Mechanism(),
			scram.Auth{User: c.user, Pass: c.pass}.AsSha512Mechanism(),
			plain.Auth{User: c.user, Pass: c.pass}.AsMechanism(),
		} {
			err := e.ping(t, m)
			if !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Errorf("%s as %s/%s: %v, want SASL_AUTHENTICATION_FAILED", m.Name(), c.user, c.pass, err)
			}
		}
	}
}

// ping authenticates and asks for metadata.
func (e *saslEnv) ping(t *testing.T, m sasl.Mechanism) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.saslAddr), kgo.SASL(m), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	_, err = kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	return err
}

// testCredentialAPIs: kadm creates, lists and deletes a user's SCRAM
// credentials; the user can log in only while they exist, with SCRAM and
// with PLAIN.
func (e *saslEnv) testCredentialAPIs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := e.client(t, scram.Auth{User: "admin", Pass: "secret"}.AsSha512Mechanism())
	adm := kadm.NewClient(cl)
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "bob", Mechanism: kadm.ScramSha256, Iterations: 8192, Password: "bobpw"}})
	if err != nil || res["bob"].Err != nil {
		t.Fatalf("upsert bob: %+v %v", res, err)
	}
	// kadm refuses weak iterations itself; the broker must too.
	weak := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
	up.Name, up.Mechanism, up.Iterations, up.Salt, up.SaltedPassword = "weak", 1, 100, []byte("salt"), make([]byte, 32)
	bad := up
	bad.Name, bad.Mechanism, bad.Iterations = "odd", 9, 4096
	weak.Upsertions = append(weak.Upsertions, up, bad)
	weakResp, err := weak.RequestWith(ctx, cl)
	if err != nil || len(weakResp.Results) != 2 || weakResp.Results[0].ErrorCode != kerr.UnacceptableCredential.Code || weakResp.Results[1].ErrorCode != kerr.UnsupportedSaslMechanism.Code {
		t.Errorf("upsert with 100 iterations and mechanism 9: %+v %v, want UNACCEPTABLE_CREDENTIAL and UNSUPPORTED_SASL_MECHANISM", weakResp, err)
	}
	described, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bob := described["bob"]
	if bob.Err != nil || len(bob.CredInfos) != 1 || bob.CredInfos[0].Mechanism != kadm.ScramSha256 || bob.CredInfos[0].Iterations != 8192 {
		t.Errorf("bob described as %+v", bob)
	}
	if admin := described["admin"]; len(admin.CredInfos) != 2 || admin.CredInfos[0].Iterations != 4096 {
		t.Errorf("bootstrap admin described as %+v", admin)
	}
	if _, ok := described["weak"]; ok {
		t.Error("the refused user was stored")
	}
	one, err := adm.DescribeUserSCRAMs(ctx, "nobody")
	if err != nil || !errors.Is(one["nobody"].Err, kerr.ResourceNotFound) {
		t.Errorf("describe unknown user: %+v %v, want RESOURCE_NOT_FOUND", one, err)
	}
	if err := e.ping(t, scram.Auth{User: "bob", Pass: "bobpw"}.AsSha256Mechanism()); err != nil {
		t.Errorf("bob with SCRAM-SHA-256: %v", err)
	}
	if err := e.ping(t, plain.Auth{User: "bob", Pass: "bobpw"}.AsMechanism()); err != nil {
		t.Errorf("bob with PLAIN: %v", err)
	}
	if err := e.ping(t, scram.Auth{User: "bob", Pass: "bobpw"}.AsSha512Mechanism()); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Errorf("bob with SCRAM-SHA-512 (no credential): %v", err)
	}
	del, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "bob", Mechanism: kadm.ScramSha256}, {User: "ghost", Mechanism: kadm.ScramSha256}}, nil)
	if err != nil || del["bob"].Err != nil || !errors.Is(del["ghost"].Err, kerr.ResourceNotFound) {
		t.Fatalf("delete: %+v %v", del, err)
	}
	if err := e.ping(t, scram.Auth{User: "bob", Pass: "bobpw"}.AsSha256Mechanism()); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Errorf("bob after deletion: %v", err)
	}
}

// raw is a connection speaking the Kafka protocol by hand.
type raw struct {
	t    *testing.T
	conn net.Conn
	corr int32
}

func (e *saslEnv) dial(t *testing.T) *raw {
	conn, err := net.Dial("tcp", e.saslAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &raw{t: t, conn: conn}
}

func (r *raw) send(req kmsg.Request) {
	r.t.Helper()
	r.corr++
	writeRaw(r.t, r.conn, kmsg.NewRequestFormatter().AppendRequest(nil, req, r.corr))
}

// call sends req and decodes its response into resp.
func (r *raw) call(req kmsg.Request, resp kmsg.Response) {
	r.t.Helper()
	r.send(req)
	corr, body := readResponse(r.t, r.conn)
	if corr != r.corr {
		r.t.Fatalf("correlation id %d, want %d", corr, r.corr)
	}
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != 18 { // ApiVersions' header is always v0
		body = body[1:] // the response header's empty tag section
	}
	if err := resp.ReadFrom(body); err != nil {
		r.t.Fatalf("decode %T: %v", resp, err)
	}
}

// authenticate runs PLAIN over SaslHandshake v1 and SaslAuthenticate v2.
func (r *raw) authenticate(user, pass string) *kmsg.SASLAuthenticateResponse {
	r.t.Helper()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = "PLAIN"
	hsResp := kmsg.NewPtrSASLHandshakeResponse()
	r.call(hs, hsResp)
	if hsResp.ErrorCode != 0 {
		r.t.Fatalf("handshake: %v", kerr.ErrorForCode(hsResp.ErrorCode))
	}
	au := kmsg.NewPtrSASLAuthenticateRequest()
	au.SetVersion(2)
	au.SASLAuthBytes = []byte("\x00" + user + "\x00" + pass)
	auResp := kmsg.NewPtrSASLAuthenticateResponse()
	r.call(au, auResp)
	return auResp
}

func (r *raw) metadata() *kmsg.MetadataResponse {
	r.t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	resp := kmsg.NewPtrMetadataResponse()
	r.call(req, resp)
	return resp
}

// testGate: before authentication only ApiVersions and SaslHandshake are
// served; anything else closes the connection without an answer, and a
// failed authentication is answered, then closed.
func (e *saslEnv) testGate(t *testing.T) {
	r := e.dial(t)
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(3)
	av.ClientSoftwareName, av.ClientSoftwareVersion = "t", "1"
	r.call(av, kmsg.NewPtrApiVersionsResponse())
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(12)
	r.send(md)
	expectClosed(t, r.conn, "Metadata before authentication")

	r = e.dial(t)
	au := kmsg.NewPtrSASLAuthenticateRequest()
	au.SetVersion(2)
	r.send(au)
	expectClosed(t, r.conn, "SaslAuthenticate before SaslHandshake")

	r = e.dial(t)
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = "GSSAPI"
	hsResp := kmsg.NewPtrSASLHandshakeResponse()
	r.call(hs, hsResp)
	if hsResp.ErrorCode != kerr.UnsupportedSaslMechanism.Code || !strings.Contains(strings.Join(hsResp.SupportedMechanisms, ","), "SCRAM-SHA-512") {
		t.Errorf("GSSAPI handshake: %+v", hsResp)
	}
	expectClosed(t, r.conn, "after an unsupported mechanism")

	r = e.dial(t)
	if resp := r.authenticate("admin", "nope"); resp.ErrorCode != kerr.SaslAuthenticationFailed.Code || resp.ErrorMessage == nil {
		t.Errorf("wrong password: %+v", resp)
	}
	expectClosed(t, r.conn, "after a failed authentication")
}

// testSessionExpiry: the session lifetime is advertised, requests are
// served within it, and the first request after it closes the connection.
func (e *saslEnv) testSessionExpiry(t *testing.T) {
	r := e.dial(t)
	resp := r.authenticate("admin", "secret")
	if resp.ErrorCode != 0 || resp.SessionLifetimeMillis != saslReauth.Milliseconds() {
		t.Fatalf("authenticate: %+v", resp)
	}
	if md := r.metadata(); len(md.Brokers) != 1 {
		t.Fatalf("metadata within the session: %+v", md)
	}
	// Re-authentication renews the session on the same connection.
	if again := r.authenticate("admin", "secret"); again.ErrorCode != 0 {
		t.Fatalf("re-authenticate: %+v", again)
	}
	time.Sleep(saslReauth + 200*time.Millisecond)
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(12)
	r.send(md)
	expectClosed(t, r.conn, "Metadata after the session expired")
}

// testHandshakeV0: after SaslHandshake v0 the PLAIN token goes bare, as
// old clients send it, and Kafka requests follow.
func (e *saslEnv) testHandshakeV0(t *testing.T) {
	r := e.dial(t)
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(0)
	hs.Mechanism = "PLAIN"
	hsResp := kmsg.NewPtrSASLHandshakeResponse()
	r.call(hs, hsResp)
	if hsResp.ErrorCode != 0 {
		t.Fatalf("handshake v0: %v", kerr.ErrorForCode(hsResp.ErrorCode))
	}
	writeFrame(t, r.conn, []byte("\x00admin\x00secret"))
	var sz [4]byte
	r.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.conn.Read(sz[:]); err != nil || sz != [4]byte{} {
		t.Fatalf("bare PLAIN answer %v, %v; want an empty token", sz, err)
	}
	if md := r.metadata(); len(md.Brokers) != 1 {
		t.Fatalf("metadata after bare PLAIN: %+v", md)
	}

	r = e.dial(t)
	r.call(hs, kmsg.NewPtrSASLHandshakeResponse())
	writeFrame(t, r.conn, []byte("\x00admin\x00wrong"))
	expectClosed(t, r.conn, "bare PLAIN with a wrong password")
}

// testPlaintextListener: the PLAINTEXT listener needs no authentication
// and refuses a handshake with ILLEGAL_SASL_STATE, as Kafka does.
func (e *saslEnv) testPlaintextListener(t *testing.T) {
	conn, err := net.Dial("tcp", e.c.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := &raw{t: t, conn: conn}
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = "PLAIN"
	hsResp := kmsg.NewPtrSASLHandshakeResponse()
	r.call(hs, hsResp)
	if hsResp.ErrorCode != kerr.IllegalSaslState.Code {
		t.Errorf("handshake on PLAINTEXT: %v, want ILLEGAL_SASL_STATE", kerr.ErrorForCode(hsResp.ErrorCode))
	}
	if md := r.metadata(); len(md.Brokers) != 1 {
		t.Errorf("metadata on PLAINTEXT: %+v", md)
	}
}

// testKcat: librdkafka authenticates with each mechanism and fails with a
// wrong password.
func (e *saslEnv) testKcat(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed")
	}
	run := func(protocol, mech, pass string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		args := []string{"-L", "-t", "sasl-topic", "-m", "5", "-X", "security.protocol=" + protocol, "-X", "sasl.mechanisms=" + mech,
			"-X", "sasl.username=admin", "-X", "sasl.password=" + pass}
		if protocol == "SASL_SSL" {
			args = append(args, "-b", e.sslAddr, "-X", "ssl.ca.location="+e.ca.CertFile, "-X", "ssl.endpoint.identification.algorithm=none")
		} else {
			args = append(args, "-b", e.saslAddr)
		}
		out, err := exec.CommandContext(ctx, kcat, args...).CombinedOutput()
		return string(out), err
	}
	for _, protocol := range []string{"SASL_PLAINTEXT", "SASL_SSL"} {
		for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"} {
			out, err := run(protocol, mech, "secret")
			if err != nil || !strings.Contains(out, `topic "sasl-topic"`) {
				t.Errorf("kcat %s %s: %v\n%s", protocol, mech, err, out)
			}
		}
	}
	out, err := run("SASL_PLAINTEXT", "SCRAM-SHA-256", "wrong")
	if err == nil || !strings.Contains(out, "Authentication failed") {
		t.Errorf("kcat with a wrong password: %v\n%s", err, out)
	}
}
