package txn_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestNextTransactionWaitsForMarkers: EndTxn answers once the outcome is
// durable; an AddPartitionsToTxn of the producer's next transaction sent
// at once waits for the markers and succeeds (no CONCURRENT_TRANSACTIONS),
// and the record then holds only the new transaction's partitions.
func TestNextTransactionWaitsForMarkers(t *testing.T) {
	c := shared.Get(t)
	cl := client(t, c)
	const topic = "next-txn"
	if _, err := kadm.NewClient(cl).CreateTopic(ctx(t), 3, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	p := newProducer(t, cl, "next-txn", 30000)
	for round := range 5 {
		a, b := int32(round%3), int32((round+1)%3)
		if codes := p.addPartitions(t, cl, topic, a); codes[a] != 0 {
			t.Fatalf("round %d: AddPartitionsToTxn %d: error %d", round, a, codes[a])
		}
		if code := p.end(t, cl, 3, round%2 == 0); code != 0 {
			t.Fatalf("round %d: EndTxn: error %d", round, code)
		}
		if codes := p.addPartitions(t, cl, topic, b); codes[b] != 0 {
			t.Fatalf("round %d: AddPartitionsToTxn %d right after EndTxn: error %d", round, b, codes[b])
		}
		d := describe(t, cl, p.id)
		if d.State != "Ongoing" || len(d.Topics) != 1 || len(d.Topics[0].Partitions) != 1 || d.Topics[0].Partitions[0] != b {
			t.Fatalf("round %d: after the next AddPartitionsToTxn: state %s, topics %+v; want Ongoing with %s/%d only", round, d.State, d.Topics, topic, b)
		}
		if code := p.end(t, cl, 3, false); code != 0 {
			t.Fatalf("round %d: EndTxn abort: error %d", round, code)
		}
	}
}

// TestBackToBackTransactions: a franz-go producer runs transactions back
// to back over three partitions, committing two of three and aborting the
// third, while its next transaction starts as soon as EndTxn answers.
// A read_committed consumer must then read exactly the committed records,
// each once, and no record of an aborted transaction.
func TestBackToBackTransactions(t *testing.T) {
	t.Parallel()
	c := shared.Get(t)
	const (
		topic   = "back-to-back"
		txns    = 30
		perTxn  = 12
		parts   = 3
		txnName = "back-to-back"
	)
	admin := client(t, c)
	if _, err := kadm.NewClient(admin).CreateTopic(ctx(t), parts, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	pr, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.TransactionalID(txnName), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequestRetries(20))
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	runCtx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	want := map[string]bool{}
	aborted := map[string]bool{}
	for i := range txns {
		if err := pr.BeginTransaction(); err != nil {
			t.Fatalf("transaction %d: begin: %v", i, err)
		}
		commit := i%3 != 2
		for j := range perTxn {
			v := fmt.Sprintf("%d-%d", i, j)
			// Each transaction touches a different pair of partitions
			// than the one before, so some partitions join a
			// transaction while the previous one's markers are in flight.
			p := int32((i + j%2) % parts)
			if err := pr.ProduceSync(runCtx, &kgo.Record{Value: []byte(v), Partition: p}).FirstErr(); err != nil {
				t.Fatalf("transaction %d: produce: %v", i, err)
			}
			if commit {
				want[v] = true
			} else {
				aborted[v] = true
			}
		}
		if err := pr.EndTransaction(runCtx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("transaction %d: end (commit %v): %v", i, commit, err)
		}
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := map[string]int{}
	for len(seen) < len(want) && runCtx.Err() == nil {
		fs := cons.PollFetches(runCtx)
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			if aborted[v] {
				t.Errorf("read_committed read %q of an aborted transaction (partition %d offset %d)", v, r.Partition, r.Offset)
			}
			seen[v]++
		})
	}
	for v := range want {
		if seen[v] != 1 {
			t.Errorf("committed record %q read %d times, want once", v, seen[v])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("read %d distinct records, want the %d committed ones", len(seen), len(want))
	}
}
