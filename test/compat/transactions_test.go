package compat

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/longboat/longboat/internal/testcluster"
)

// txnCluster is the three-broker cluster the transaction tests share, side
// by side: each names its topics, transactional ids and group after its
// client. TestMain closes it.
var txnCluster = testcluster.Shared{Options: testcluster.Options{Nodes: 3}}

// TestJavaTransactions drives the Apache Kafka Java client's transactions
// against a three-broker cluster (see transactions).
func TestJavaTransactions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster and a JVM")
	}
	t.Parallel()
	c := txnCluster.Get(t)
	java, stop, err := newJavaClient(c.Addrs(), "", capabilities{})
	if err != nil {
		t.Skipf("Java client: %v", err)
	}
	defer stop()
	transactions(t, java)
}

// TestConfluentKafkaPythonTransactions drives confluent-kafka-python's
// (Debian's 1.7.0, librdkafka) transactions the same way.
func TestConfluentKafkaPythonTransactions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	t.Parallel()
	c := txnCluster.Get(t)
	py := newPyClient(c.Addrs(), "confluent-kafka", "confluent_kafka", capabilities{})
	if py == nil {
		t.Skip("no python3-confluent-kafka (apt-get install python3-confluent-kafka)")
	}
	transactions(t, py)
}

// transactions runs a client's transactional producer: committed and
// aborted transactions read under read_committed (whole or not at all),
// and a consume-transform-produce loop that commits its consumed offsets
// in its transactions (sendOffsetsToTransaction), whose output holds each
// input record exactly once.
func transactions(t *testing.T, cl *procClient) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// The tests share a cluster: everything is named after the client.
	name := func(s string) string { return cl.lib + "-" + s }
	seq := func(prefix string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s-%d", prefix, i)
		}
		return out
	}
	type txn struct {
		Values []string `json:"values"`
		Commit bool     `json:"commit"`
	}
	readCommitted := func(topic string, want int) []string {
		t.Helper()
		var resp struct{ Values []string }
		if err := cl.call(ctx, "read_committed", map[string]any{"topic": topic, "want": want}, &resp); err != nil {
			t.Fatal(err)
		}
		return resp.Values
	}
	exactlyOnce := func(got, want []string) {
		t.Helper()
		seen := map[string]int{}
		for _, v := range got {
			seen[v]++
		}
		for _, v := range want {
			if seen[v] != 1 {
				t.Errorf("%s read %d times, want once", v, seen[v])
			}
		}
		if len(got) != len(want) {
			t.Errorf("read %d values, want %d", len(got), len(want))
		}
	}

	for _, topic := range []string{name("txn-topic"), name("eos-in"), name("eos-out")} {
		if err := cl.createTopic(ctx, topic, 3); err != nil {
			t.Fatal(err)
		}
	}
	err := cl.call(ctx, "txn_produce", map[string]any{"topic": name("txn-topic"), "transactional_id": name("txn-topic"),
		"transactions": []txn{{seq("first", 10), true}, {seq("aborted", 10), false}, {seq("second", 10), true}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := readCommitted(name("txn-topic"), 20)
	for _, v := range got {
		if strings.HasPrefix(v, "aborted-") {
			t.Errorf("read_committed returned %s of the aborted transaction", v)
		}
	}
	exactlyOnce(got, append(seq("first", 10), seq("second", 10)...))

	const n = 60
	err = cl.call(ctx, "txn_produce", map[string]any{"topic": name("eos-in"), "transactional_id": name("eos-input"),
		"transactions": []txn{{seq("in", n), true}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var done struct{ Processed int }
	err = cl.call(ctx, "txn_pipeline", map[string]any{"in": name("eos-in"), "out": name("eos-out"), "group": name("eos-group"),
		"transactional_id": name("eos-pipeline"), "want": n}, &done)
	if err != nil {
		t.Fatal(err)
	}
	if done.Processed != n {
		t.Fatalf("the pipeline processed %d records, want %d", done.Processed, n)
	}
	want := seq("out-in", n)
	exactlyOnce(readCommitted(name("eos-out"), n), want)
	offsets, err := cl.groupOffsets(ctx, name("eos-group"), name("eos-in"))
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, o := range offsets {
		sum += o
	}
	if sum != n {
		t.Errorf("the group's committed offsets sum to %d, want %d: %v", sum, n, offsets)
	}
}
