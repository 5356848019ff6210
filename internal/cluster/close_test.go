package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/testcluster"
)

// TestCloseCancelsWaits stops a broker whose leader loop is waiting on a
// __meta proposal that cannot commit: broker 1 restarts alone (its peers
// stopped, so __meta has no quorum) and its single-replica partitions elect
// it in a new term, which it reports to __meta in SetLeader proposals of a
// two-second deadline each. Close must cancel that wait, not sit it out.
func TestCloseCancelsWaits(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-broker cluster")
	}
	c := testcluster.Start(t, testcluster.Options{Adjust: func(cfg *config.Config) {
		// Broker.Close first hands off leadership for half of this; a
		// single-replica partition has nobody to hand it to.
		cfg.ShutdownTimeout = 200 * time.Millisecond
	}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 12, 1, nil, "solo")
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	node := c.Brokers[0].Node
	var mine []uint64
	for _, ref := range node.Meta().PartitionsOf(node.ID()) {
		mine = append(mine, ref.Partition.ShardID)
	}
	if len(mine) == 0 {
		t.Fatal("no partition of the topic is placed on broker 1")
	}
	waitFor(t, 10*time.Second, "broker 1 records its partition leaderships in __meta", func() bool {
		for _, id := range mine {
			if l, ok := node.Meta().Leaders[id]; !ok || l.Replica != node.ID() {
				return false
			}
		}
		return true
	})

	c.StopBroker(2)
	c.StopBroker(1)
	c.StopBroker(0)
	c.StartBroker(0)
	node = c.Brokers[0].Node
	// The first of them to win its election in a new term is reported to
	// __meta 50 ms later, in a proposal that waits out its deadline.
	waitFor(t, 20*time.Second, "restarted broker 1 leads a partition in a new term", func() bool {
		st := node.Meta()
		for _, id := range mine {
			if term, leader := node.IsLeader(id); leader && st.Leaders[id].Term != term {
				return true
			}
		}
		return false
	})
	if _, _, ok := node.Leader(meta.ShardID); ok {
		t.Fatal("__meta has a leader with two of three brokers stopped")
	}
	time.Sleep(300 * time.Millisecond)

	start := time.Now()
	c.StopBroker(0)
	took := time.Since(start)
	t.Logf("Close took %v", took)
	if took > time.Second {
		t.Errorf("Close took %v; it must cancel the pending __meta proposals (2 s), not wait them out", took)
	}
}

func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
