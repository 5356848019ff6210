package txn_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/group"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// TestTransactionalIDExpiration: with --transactional-id-expiration-ms
// 4000 (1500 expired ids between their steps on a loaded machine), an id left Empty after InitProducerId and one whose transaction
// committed are removed from every replica of their shard, no longer
// listed or described, while an id with a transaction ongoing stays. The
// removed id's old producer is unknown; initialising it again gives it a
// new producer id.
func TestTransactionalIDExpiration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts brokers")
	}
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) {
		adjust(cfg)
		cfg.TransactionalIDExpiration = 4 * time.Second
	}})
	cl := client(t, c)
	const topic = "expire-topic"
	if _, err := kadm.NewClient(cl).CreateTopic(ctx(t), 1, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	idle := newProducer(t, cl, "expire-idle", 60000)
	done := newProducer(t, cl, "expire-done", 60000)
	busy := newProducer(t, cl, "expire-busy", 60000)
	for _, p := range []producer{done, busy} {
		if codes := p.addPartitions(t, cl, topic, 0); codes[0] != 0 {
			t.Fatalf("AddPartitionsToTxn %s: %v", p.id, codes)
		}
	}
	if code := done.end(t, cl, 3, true); code != 0 {
		t.Fatalf("EndTxn: %d", code)
	}
	awaitState(t, cl, done.id, group.TxnCompleteCommit, 10*time.Second)

	// Every broker's replica of the ids' shards: gone, or still there.
	replicas := func(id string) (held int) {
		for _, b := range c.Brokers {
			shard, _ := b.Node.GroupShardFor(id)
			if sm, ok := b.Node.GroupStateMachine(shard); ok {
				if _, found := sm.Txn(id); found {
					held++
				}
			}
		}
		return held
	}
	if err := testutil.Poll(20*time.Second, func() error {
		for _, id := range []string{idle.id, done.id} {
			if n := replicas(id); n != 0 {
				return fmt.Errorf("%s still held by %d replicas", id, n)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := replicas(busy.id); n != len(c.Brokers) {
		t.Fatalf("the ongoing %s is held by %d replicas of %d", busy.id, n, len(c.Brokers))
	}
	for _, id := range []string{idle.id, done.id} {
		if d := describe(t, cl, id); d.ErrorCode != kerr.TransactionalIDNotFound.Code {
			t.Fatalf("DescribeTransactions %s after expiry: %+v", id, d)
		}
	}
	if d := describe(t, cl, busy.id); d.ErrorCode != 0 || d.State != group.TxnOngoing || d.ProducerID != busy.pid {
		t.Fatalf("DescribeTransactions %s: %+v", busy.id, d)
	}
	listed, err := kadm.NewClient(cl).ListTransactions(ctx(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for id, l := range listed {
		if l.ProducerID == idle.pid || l.ProducerID == done.pid {
			t.Errorf("ListTransactions still shows producer id %d (%s)", l.ProducerID, id)
		}
	}
	if l, ok := listed[busy.id]; !ok || l.ProducerID != busy.pid || l.State != group.TxnOngoing {
		t.Errorf("ListTransactions: %s = %+v, %v", busy.id, l, ok)
	}

	if codes := idle.addPartitions(t, cl, topic, 0); codes[0] != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("AddPartitionsToTxn of the expired id's old producer: %v, want INVALID_PRODUCER_ID_MAPPING", codes)
	}
	again := newProducer(t, cl, idle.id, 60000)
	if again.pid == idle.pid || again.epoch != 0 {
		t.Fatalf("the expired id initialised again: producer id %d epoch %d, had %d", again.pid, again.epoch, idle.pid)
	}
	if code := busy.end(t, cl, 3, false); code != 0 {
		t.Fatalf("EndTxn abort %s: %d", busy.id, code)
	}
}
