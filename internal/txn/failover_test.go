package txn_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

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
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: adjust})
	cl := client(t, c)
	const id, grp, topic = "failover", "failover-group", "failover-topic"
	if _, err := kadm.NewClient(cl).CreateTopic(ctx(t), 1, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	// A franz-go transactional producer writes a record in a transaction
	// it never ends; the raw requests add its offsets with its producer id.
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.TransactionalID(id), kgo.TransactionTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
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
	shard, _ := c.Brokers[0].Node.GroupShardFor(id)
	leader, _, ok := c.Brokers[0].Node.Leader(shard)
	if !ok {
		t.Fatal("the transaction's shard has no leader")
	}
	old := int(leader) - 1
	c.StopBroker(old)
	survivor := c.Brokers[(old+1)%3].Node

	// What the stopped coordinator had made durable before its markers:
	// PrepareCommit, proposed here through a surviving replica.
	err = testutil.Poll(20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := survivor.ReadIndex(ctx, shard); err != nil {
			return err
		}
		sm, _ := survivor.GroupStateMachine(shard)
		rec, ok := sm.Txn(id)
		if !ok || rec.State != group.TxnOngoing || !rec.HasPartition(topic, 0) || !rec.HasGroup(grp) {
			t.Fatalf("before the failover: %+v", rec)
		}
		rec.State = group.TxnPrepareCommit
		rec.Version++
		return survivor.ProposeGroup(ctx, shard, group.Command{Txn: &group.TxnCommand{Put: &rec}}.Encode())
	})
	if err != nil {
		t.Fatalf("propose PrepareCommit: %v", err)
	}
	// A new client of the running brokers: franz-go keeps dialling a
	// coordinator it found, and a stopped seed.
	var seeds []string
	for i, addr := range c.Addrs() {
		if i != old {
			seeds = append(seeds, addr)
		}
	}
	cl, err = kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequestRetries(20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
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
	consumer, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	// Fetch errors while the stopped broker's partitions move are retried.
	pctx := ctx(t)
	var recs []*kgo.Record
	for len(recs) == 0 && pctx.Err() == nil {
		recs = consumer.PollFetches(pctx).Records()
	}
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
