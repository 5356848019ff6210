package compat

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/longboat/longboat/internal/testcluster"
)

// TestJavaTransactions drives the Apache Kafka Java client's transactions
// against a three-broker cluster: committed and aborted transactions read
// under read_committed, and a consume-transform-produce loop that commits
// its consumed offsets with sendOffsetsToTransaction.
func TestJavaTransactions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster and a JVM")
	}
	c := testcluster.Start(t, testcluster.Options{Nodes: 3})
	java, stop, err := newJavaClient(c.Addrs(), t.TempDir(), capabilities{})
	if err != nil {
		t.Skipf("Java client: %v", err)
	}
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
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
	readCommitted := func(topic string) []string {
		t.Helper()
		var resp struct{ Values []string }
		if err := java.call(ctx, "read_committed", map[string]any{"topic": topic}, &resp); err != nil {
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

	for _, topic := range []string{"java-txn", "java-eos-in", "java-eos-out"} {
		if err := java.createTopic(ctx, topic, 3); err != nil {
			t.Fatal(err)
		}
	}
	err = java.call(ctx, "txn_produce", map[string]any{"topic": "java-txn", "transactional_id": "java-txn",
		"transactions": []txn{{seq("first", 10), true}, {seq("aborted", 10), false}, {seq("second", 10), true}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := readCommitted("java-txn")
	for _, v := range got {
		if strings.HasPrefix(v, "aborted-") {
			t.Errorf("read_committed returned %s of the aborted transaction", v)
		}
	}
	exactlyOnce(got, append(seq("first", 10), seq("second", 10)...))

	const n = 60
	err = java.call(ctx, "txn_produce", map[string]any{"topic": "java-eos-in", "transactional_id": "java-eos-input",
		"transactions": []txn{{seq("in", n), true}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var done struct{ Processed int }
	err = java.call(ctx, "txn_pipeline", map[string]any{"in": "java-eos-in", "out": "java-eos-out", "group": "java-eos",
		"transactional_id": "java-eos-pipeline", "want": n}, &done)
	if err != nil {
		t.Fatal(err)
	}
	if done.Processed != n {
		t.Fatalf("the pipeline processed %d records, want %d", done.Processed, n)
	}
	want := seq("out-in", n)
	exactlyOnce(readCommitted("java-eos-out"), want)
	offsets, err := java.groupOffsets(ctx, "java-eos", "java-eos-in")
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
