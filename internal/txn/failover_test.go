package txn_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/cluster"
	"github.com/longboat/longboat/internal/group"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// TestNewCoordinatorFinishesPreparedCommit: the coordinator stops after a
// transaction's PrepareCommit is durable and before its markers; the
// shard's next leader writes the markers and ends the group offsets on its
// own: the transaction's record becomes readable under read_committed and
// its offsets, replicated pending in the group's shard, visible.
func TestNewCoordinatorFinishesPreparedCommit(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts and stops brokers")
	}
	const id, grp, topic = "failover", "failover-group", "failover-topic"
	// A franz-go transactional producer writes a record in a transaction
	// it never ends; the raw requests add its offsets with its producer id.
	c, cl, prod := failoverCluster(t, id, topic)
	if err := prod.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := prod.ProduceSync(ctx(t), &kgo.Record{Topic: topic, Value: []byte("in-the-prepared-transaction")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	pid, epoch, err := prod.ProducerID(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	p := producer{id: id, pid: pid, epoch: epoch}
	if code := p.addOffsets(t, cl, grp); code != 0 {
		t.Fatalf("AddOffsetsToTxn: %d", code)
	}
	if code := p.commitOffset(t, cl, grp, topic, 42, "", -1); code != 0 {
		t.Fatalf("TxnOffsetCommit: %d", code)
	}
	old, shard, survivor := stopCoordinator(t, c, id)
	// What the stopped coordinator had made durable before its markers:
	// PrepareCommit, proposed here through a surviving replica.
	rewriteRecord(t, survivor, shard, id, func(rec *group.TxnRecord) bool {
		if rec.State != group.TxnOngoing || !rec.HasPartition(topic, 0) || !rec.HasGroup(grp) {
			t.Fatalf("before the failover: %+v", rec)
		}
		rec.State = group.TxnPrepareCommit
		return true
	})
	seeds, cl := survivorsClient(t, c, old)
	awaitState(t, cl, id, "CompleteCommit", 20*time.Second)
	// The group's coordinator may have been the stopped broker too: the
	// survivors name it until they elect its successor.
	testutil.Eventually(t, 20*time.Second, func() error {
		got, _, err := tryFetchOffset(t, cl, grp, topic, false)
		if err == nil && got != 42 {
			t.Fatalf("after the new coordinator finished the commit the offset is %d, want 42", got)
		}
		return err
	})
	recs := readCommitted(t, seeds, topic, 1)
	if len(recs) != 1 || string(recs[0].Value) != "in-the-prepared-transaction" {
		t.Fatalf("read_committed after the commit: %v", recs)
	}
	if leader, _, _ := survivor.Leader(shard); int(leader)-1 == old {
		t.Fatalf("the stopped broker %d still leads the shard", leader)
	}
}

// TestTimedOutTransactionAbortsItsRecords: a transactional producer that
// goes silent with records in an open transaction holds back every
// read_committed consumer only until the coordinator aborts it; its
// records are never read.
func TestTimedOutTransactionAbortsItsRecords(t *testing.T) {
	c := shared.Get(t)
	cl := client(t, c)
	const id, topic = "silent", "silent-topic"
	if _, err := kadm.NewClient(cl).CreateTopic(ctx(t), 1, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.TransactionalID(id), kgo.TransactionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := prod.ProduceSync(ctx(t), &kgo.Record{Topic: topic, Value: []byte("never-committed")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	awaitState(t, cl, id, "CompleteAbort", 15*time.Second)
	// A new producer of the id commits after the abort.
	next, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.TransactionalID(id), kgo.TransactionTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	if err := next.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := next.ProduceSync(ctx(t), &kgo.Record{Topic: topic, Value: []byte("committed")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := next.EndTransaction(ctx(t), kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	var got []string
	for len(got) < 1 {
		fs := consumer.PollFetches(ctx(t))
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if len(got) != 1 || got[0] != "committed" {
		t.Fatalf("read_committed: %q, want only the committed record", got)
	}
}

// TestNewCoordinatorFinishesPrevAfterNextTransactionBegan: the producer's
// next transaction was written over the previous one's Prepare* record
// (its Prev) and has records in the partition the previous one committed
// in; the coordinator stops before the next EndTxn. Its successor writes
// the previous transaction's markers again, which the partition must
// take as copies: they must not end the next transaction, whose own
// commit then makes its record readable. The partition's log then holds
// exactly each record and each transaction's marker.
func TestNewCoordinatorFinishesPrevAfterNextTransactionBegan(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts and stops brokers")
	}
	const id, topic = "prev-failover", "prev-failover-topic"
	c, cl, prod := failoverCluster(t, id, topic)
	for _, v := range []string{"first", "second"} {
		if err := prod.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := prod.ProduceSync(ctx(t), &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if v == "first" {
			if err := prod.EndTransaction(ctx(t), kgo.TryCommit); err != nil {
				t.Fatal(err)
			}
		}
	}
	pid, epoch, err := prod.ProducerID(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	old, shard, survivor := stopCoordinator(t, c, id)
	// The record as the stopped coordinator left it, with Prev: kept if
	// the second transaction began while the first one's marker was in
	// flight, else written here as if it had (Version 1 is at or below
	// the marker's Seq the partition applied, as the real one is).
	rewriteRecord(t, survivor, shard, id, func(rec *group.TxnRecord) bool {
		if rec.State != group.TxnOngoing || !rec.HasPartition(topic, 0) {
			t.Fatalf("before the failover: %+v", rec)
		}
		if rec.Prev != nil {
			return false
		}
		rec.Prev = &group.TxnPrev{Commit: true, Epoch: rec.Epoch, Partitions: map[string][]int32{topic: {0}}, Version: 1}
		return true
	})
	seeds, cl := survivorsClient(t, c, old)
	p := producer{id: id, pid: pid, epoch: epoch}
	// The new coordinator answers once it has written Prev's markers.
	testutil.Eventually(t, 30*time.Second, func() error {
		return kerr.ErrorForCode(p.end(t, cl, 3, true))
	})
	awaitState(t, cl, id, "CompleteCommit", 20*time.Second)

	var got []string
	for _, r := range readCommitted(t, seeds, topic, 2) {
		got = append(got, fmt.Sprintf("%s@%d", r.Value, r.Offset))
	}
	if len(got) != 2 || got[0] != "first@0" || got[1] != "second@2" {
		t.Fatalf("read_committed: %q, want first@0 and second@2", got)
	}
	// first, its COMMIT, second, its COMMIT: a copy of the first marker
	// applied after the failover would have added one more.
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup(topic, 0); o.Offset != 4 {
		t.Fatalf("end offset %d, want 4 (two records, two markers)", o.Offset)
	}
}

// readCommitted reads a topic from the start under read_committed until
// it has n records or the test's time is up; fetch errors while a stopped
// broker's partitions move are retried.
func readCommitted(t *testing.T, seeds []string, topic string, n int) []*kgo.Record {
	t.Helper()
	consumer, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	pctx := ctx(t)
	var recs []*kgo.Record
	for len(recs) < n && pctx.Err() == nil {
		recs = append(recs, consumer.PollFetches(pctx).Records()...)
	}
	return recs
}

// failoverCluster starts three brokers of their own with a one-partition
// topic, and returns them with an admin client and a transactional
// producer of id.
func failoverCluster(t *testing.T, id, topic string) (*testcluster.Cluster, *kgo.Client, *kgo.Client) {
	t.Helper()
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: adjust})
	cl := client(t, c)
	if _, err := kadm.NewClient(cl).CreateTopic(ctx(t), 1, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.TransactionalID(id), kgo.TransactionTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	return c, cl, prod
}

// stopCoordinator stops the broker leading a transactional id's shard and
// returns its index, the shard and a surviving broker's node.
func stopCoordinator(t *testing.T, c *testcluster.Cluster, id string) (int, uint64, *cluster.Node) {
	t.Helper()
	shard, _ := c.Brokers[0].Node.GroupShardFor(id)
	leader, _, ok := c.Brokers[0].Node.Leader(shard)
	if !ok {
		t.Fatal("the transaction's shard has no leader")
	}
	old := int(leader) - 1
	c.StopBroker(old)
	return old, shard, c.Brokers[(old+1)%3].Node
}

// rewriteRecord reads an id's record on a surviving replica once it has
// caught up and, when change asks for it, proposes the changed record as
// the coordinator would have written it.
func rewriteRecord(t *testing.T, survivor *cluster.Node, shard uint64, id string, change func(*group.TxnRecord) bool) {
	t.Helper()
	err := testutil.Poll(20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := survivor.ReadIndex(ctx, shard); err != nil {
			return err
		}
		sm, _ := survivor.GroupStateMachine(shard)
		rec, ok := sm.Txn(id)
		if !ok {
			t.Fatalf("no record of %s", id)
		}
		if !change(&rec) {
			return nil
		}
		rec.Version++
		return survivor.ProposeGroup(ctx, shard, group.Command{Txn: &group.TxnCommand{Put: &rec}}.Encode())
	})
	if err != nil {
		t.Fatalf("propose the record: %v", err)
	}
}

// survivorsClient is a new client of the running brokers (franz-go keeps
// dialling a coordinator it found, and a stopped seed) and their
// addresses.
func survivorsClient(t *testing.T, c *testcluster.Cluster, stopped int) ([]string, *kgo.Client) {
	t.Helper()
	var seeds []string
	for i, addr := range c.Addrs() {
		if i != stopped {
			seeds = append(seeds, addr)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequestRetries(20))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return seeds, cl
}
