package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// readCommitted reads topic from the start under isolation_level
// read_committed until it has at least want values and a poll of quiet
// brings nothing more, and returns the values.
func readCommitted(t *testing.T, seeds []string, topic string, want int, quiet time.Duration) []string {
	t.Helper()
	cl := newClient(t, seeds, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []string
	for {
		pctx, pcancel := context.WithTimeout(ctx, quiet)
		fs := cl.PollFetches(pctx)
		pcancel()
		if ctx.Err() != nil {
			t.Fatalf("read_committed: %d values (wanted %d) before the timeout", len(out), want)
		}
		got := 0
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, string(r.Value))
			got++
		})
		if got == 0 && len(out) >= want {
			return out
		}
	}
}

// produceTxn produces values in one transaction and commits or aborts it.
func produceTxn(t *testing.T, cl *kgo.Client, topic string, values []string, commit kgo.TransactionEndTry) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
	}
	if err := cl.EndTransaction(ctx, commit); err != nil {
		t.Fatalf("end transaction: %v", err)
	}
}

func values(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// TestTransactionalProducerReadCommitted: a franz-go transactional
// producer's committed transactions are read whole under read_committed,
// its aborted one never, and an open one not until it commits.
func TestTransactionalProducerReadCommitted(t *testing.T) {
	c := sharedCluster(t)
	seeds := c.Addrs()
	const topic = "txn-read-committed"
	createTopic(t, seeds, topic, 3, 3)
	p := newClient(t, seeds, kgo.TransactionalID("txn-read-committed"), kgo.TransactionTimeout(30*time.Second))
	produceTxn(t, p, topic, values("first", 20), kgo.TryCommit)
	produceTxn(t, p, topic, values("aborted", 20), kgo.TryAbort)
	produceTxn(t, p, topic, values("second", 20), kgo.TryCommit)

	got := readCommitted(t, seeds, topic, 40, 2*time.Second)
	seen := map[string]int{}
	for _, v := range got {
		seen[v]++
		if strings.HasPrefix(v, "aborted-") {
			t.Errorf("read_committed returned %s of the aborted transaction", v)
		}
	}
	for _, v := range append(values("first", 20), values("second", 20)...) {
		if seen[v] != 1 {
			t.Errorf("%s read %d times, want once", v, seen[v])
		}
	}

	// An open transaction stays invisible until it commits.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, v := range values("open", 5) {
		if err := p.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if got := readCommitted(t, seeds, topic, 0, 2*time.Second); len(got) != 40 {
		t.Fatalf("with a transaction open read_committed returns %d values, want the 40 committed", len(got))
	}
	if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if got := readCommitted(t, seeds, topic, 45, time.Second); len(got) != 45 {
		t.Fatalf("after the commit read_committed returns %d values, want 45", len(got))
	}
}

// TestGroupTransactSessionExactlyOnce: a franz-go GroupTransactSession
// consumes a topic, writes each record transformed to another and commits
// its offsets in the same transaction; its member restarts half way. The
// output read under read_committed holds every input record exactly once.
func TestGroupTransactSessionExactlyOnce(t *testing.T) {
	c := sharedCluster(t)
	seeds := c.Addrs()
	const in, out, group, n = "eos-in", "eos-out", "eos-group", 200
	createTopic(t, seeds, in, 3, 3)
	createTopic(t, seeds, out, 3, 3)
	produceN(t, newClient(t, seeds), in, "v", n)

	// run processes with one session until it has produced at least
	// stopAfter records (or all), then leaves the group.
	produced := 0
	run := func(stopAfter int) {
		sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(seeds...), kgo.TransactionalID("eos-pipeline"),
			kgo.ConsumerGroup(group), kgo.ConsumeTopics(in), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.TransactionTimeout(30*time.Second), kgo.SessionTimeout(6*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		for produced < stopAfter {
			fs := sess.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("pipeline: %d of %d records produced before the timeout", produced, n)
			}
			if err := sess.Begin(); err != nil {
				t.Fatal(err)
			}
			batch := 0
			fs.EachRecord(func(r *kgo.Record) {
				batch++
				sess.Produce(ctx, &kgo.Record{Topic: out, Value: append([]byte("out-"), r.Value...)}, func(_ *kgo.Record, err error) {
					if err != nil {
						t.Errorf("produce: %v", err)
					}
				})
			})
			committed, err := sess.End(ctx, kgo.TryCommit)
			if err != nil {
				t.Fatalf("end: %v", err)
			}
			if committed {
				produced += batch
			}
		}
	}
	run(n / 2)
	run(n) // the member restarts: a new session with the same transactional id

	got := readCommitted(t, seeds, out, n, 2*time.Second)
	seen := map[string]int{}
	for _, v := range got {
		seen[v]++
	}
	for i := range n {
		if v := fmt.Sprintf("out-v-%d", i); seen[v] != 1 {
			t.Errorf("%s in the output %d times, want once", v, seen[v])
		}
	}
	if len(got) != n {
		t.Errorf("output holds %d records, want %d", len(got), n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(newClient(t, seeds)).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	offs.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != n {
		t.Errorf("the group committed offsets summing to %d, want %d", total, n)
	}
}
