package main

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/tlscert/tlstest"
)

// TestServeSSLOnlyBrokerClients runs a broker whose only listener is SSL:
// the clients the broker runs itself (the transaction coordinator's
// markers to partition leaders, the web console) must dial it with TLS, so
// a committed transaction becomes readable under read_committed and the
// console lists the topic.
func TestServeSSLOnlyBrokerClients(t *testing.T) {
	t.Parallel()
	bin := buildLongboat(t)
	ca := tlstest.NewCA(t, t.TempDir(), "ca")
	server := ca.Server(t, "broker1")
	addrs := testcluster.FreeAddrs(t, 1)
	broker := startServe(t, bin, "SSL://"+addrs[0],
		"--tls-cert-file", server.CertFile, "--tls-key-file", server.KeyFile,
		"--tls-client-ca-file", ca.CertFile)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tlsCfg := &tls.Config{RootCAs: ca.Pool()}
	admin, err := kgo.NewClient(kgo.SeedBrokers(addrs[0]), kgo.DialTLSConfig(tlsCfg))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	const topic = "ssl-only"
	for {
		resp, err := kadm.NewClient(admin).CreateTopic(ctx, 1, 1, nil, topic)
		if err == nil && resp.Err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("create topic: %v %v", err, resp.Err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	producer, err := kgo.NewClient(kgo.SeedBrokers(addrs[0]), kgo.DialTLSConfig(tlsCfg),
		kgo.TransactionalID("ssl-only-txn"), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	if err := producer.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"a", "b", "c"} {
		if err := producer.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	if err := producer.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit over an SSL-only broker: %v", err)
	}

	consumer, err := kgo.NewClient(kgo.SeedBrokers(addrs[0]), kgo.DialTLSConfig(tlsCfg),
		kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	var got []string
	for len(got) < 3 && ctx.Err() == nil {
		consumer.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("read_committed read %v, want a,b,c", got)
	}

	resp, err := http.Get("http://" + broker.httpAddr + "/ui/topics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), topic) {
		t.Fatalf("console over the SSL listener: %d, topic listed: %v", resp.StatusCode, strings.Contains(string(body), topic))
	}
}
