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

// TestJavaSASL runs the Java client with SCRAM-SHA-512 (ScramLoginModule
// in sasl.jaas.config) against a SASL_PLAINTEXT listener whose user was
// created by --bootstrap-scram-users, and with a wrong password.
func TestJavaSASL(t *testing.T) {
	t.Parallel() // its own broker; the shared JVM takes one request at a time
	addr := testcluster.FreeAddrs(t, 1)[0]
	c := testcluster.Start(t, testcluster.Options{Nodes: 1, Adjust: func(cfg *config.Config) {
		// SASL first, where the Java client bootstraps (c.Addrs); the
		// PLAINTEXT one after it is the broker's own clients'.
		parsed, err := config.Parse([]string{"--listeners", "SASL_PLAINTEXT://" + addr + ",PLAINTEXT://" + cfg.Listeners[0].Addr(),
			"--bootstrap-scram-users", "admin:secret"}, func(string) string { return "" })
		if err != nil {
			t.Errorf("SASL flags: %v", err)
			return
		}
		cfg.Listeners, cfg.AdvertisedListeners, cfg.SASL = parsed.Listeners, parsed.AdvertisedListeners, parsed.SASL
	}})
	java, stop, err := newJavaClient(c.Addrs(), "", capabilities{binary: true})
	if err != nil {
		t.Skipf("java: %v", err)
	}
	defer stop()
	jaas := func(pass string) map[string]string {
		return map[string]string{
			"security.protocol": "SASL_PLAINTEXT",
			"sasl.mechanism":    "SCRAM-SHA-512",
			"sasl.jaas.config":  `org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="` + pass + `";`,
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// The driver creates topics with three replicas; this cluster has one
	// broker, so franz-go creates it, over SASL too.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(scram.Auth{User: "admin", Pass: "secret"}.AsSha256Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "java-sasl"); err != nil {
		t.Fatal(err)
	}
	var recs []rec
	for i := range 5 {
		recs = append(recs, rec{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("sasl-%d", i))})
	}
	java.props = jaas("secret")
	if err := java.produce(ctx, "java-sasl", produceOpts{acks: -1, codec: "none"}, recs); err != nil {
		t.Fatal(err)
	}
	got, err := java.consume(ctx, "java-sasl", []prange{{Partition: 0, From: 0, To: 5}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || string(got[0].Value) != "sasl-0" || string(got[4].Value) != "sasl-4" {
		t.Fatalf("Java consumed %d records over SASL: %+v", len(got), got)
	}
	java.props = jaas("wrong")
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	err = java.produce(wctx, "java-sasl", produceOpts{acks: -1, codec: "none"}, recs[:1])
	if err == nil || !strings.Contains(err.Error(), "SaslAuthenticationException") {
		t.Fatalf("the Java client with a wrong password: %v, want a SaslAuthenticationException", err)
	}
}
