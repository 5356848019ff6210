package compat

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/testcluster"
)

// TestJavaACL runs the Java client as a restricted SCRAM user against a
// broker with --authorizer acl: produce fails with a
// TopicAuthorizationException until an ACL grants WRITE, and reading back
// needs READ.
func TestJavaACL(t *testing.T) {
	t.Parallel() // its own broker; the shared JVM takes one request at a time
	addr := testcluster.FreeAddrs(t, 1)[0]
	c := testcluster.Start(t, testcluster.Options{Nodes: 1, Adjust: testcluster.ServeFlags(t, func(cfg *config.Config) []string {
		return []string{"--listeners", "SASL_PLAINTEXT://" + addr + ",PLAINTEXT://" + cfg.Listeners[0].Addr(),
			"--bootstrap-scram-users", "admin:secret,alice:alicepw", "--authorizer", "acl", "--super-users", "User:admin;User:ANONYMOUS"}
	})})
	java, stop, err := newJavaClient(c.Addrs(), "", capabilities{binary: true})
	if err != nil {
		t.Skipf("java: %v", err)
	}
	defer stop()
	java.props = map[string]string{
		"security.protocol": "SASL_PLAINTEXT",
		"sasl.mechanism":    "SCRAM-SHA-512",
		"sasl.jaas.config":  `org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="alicepw";`,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(scram.Auth{User: "admin", Pass: "secret"}.AsSha256Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "java-acl"); err != nil {
		t.Fatal(err)
	}
	grant := func(op kadm.ACLOperation) {
		t.Helper()
		res, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("java-acl").ResourcePatternType(kadm.ACLPatternLiteral).Operations(op))
		if err == nil && len(res) == 1 {
			err = res[0].Err
		}
		if err != nil {
			t.Fatalf("grant %s: %v", op, err)
		}
	}
	var recs []rec
	for i := range 3 {
		recs = append(recs, rec{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("acl-%d", i))})
	}
	dctx, dcancel := context.WithTimeout(ctx, 40*time.Second)
	err = java.produce(dctx, "java-acl", produceOpts{acks: -1, codec: "none"}, recs)
	dcancel()
	if err == nil || !strings.Contains(err.Error(), "TopicAuthorizationException") {
		t.Fatalf("Java produce without an ACL: %v, want a TopicAuthorizationException", err)
	}
	grant(kadm.OpWrite)
	if err := java.produce(ctx, "java-acl", produceOpts{acks: -1, codec: "none"}, recs); err != nil {
		t.Fatalf("Java produce with WRITE: %v", err)
	}
	dctx, dcancel = context.WithTimeout(ctx, 40*time.Second)
	_, err = java.consume(dctx, "java-acl", []prange{{Partition: 0, From: 0, To: 3}})
	dcancel()
	if err == nil || !strings.Contains(err.Error(), "TopicAuthorizationException") {
		t.Fatalf("Java consume without READ: %v, want a TopicAuthorizationException", err)
	}
	grant(kadm.OpRead)
	got, err := java.consume(ctx, "java-acl", []prange{{Partition: 0, From: 0, To: 3}})
	if err != nil || len(got) != 3 || string(got[2].Value) != "acl-2" {
		t.Fatalf("Java consume with READ: %v %+v", err, got)
	}
}
