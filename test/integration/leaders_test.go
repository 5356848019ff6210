package integration

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// leaderCounts returns how many partition shards each broker leads, as the
// NodeHosts themselves see it.
func leaderCounts(c *testcluster.Cluster) map[uint64]int {
	counts := map[uint64]int{}
	for _, b := range c.Brokers {
		if b == nil {
			continue
		}
		for _, shard := range b.Node.HostedShards() {
			if _, leader := b.Node.IsLeader(shard); leader {
				counts[b.Node.ID()]++
			}
		}
	}
	return counts
}

func waitBalanced(t *testing.T, c *testcluster.Cluster, perBroker int, within time.Duration) {
	t.Helper()
	testutil.Eventually(t, within, func() error {
		counts := leaderCounts(c)
		ok := len(counts) == len(c.Brokers)
		for _, n := range counts {
			ok = ok && n == perBroker
		}
		if !ok {
			return fmt.Errorf("leaders per broker %v, want %d each", counts, perBroker)
		}
		return nil
	})
}

// waitAllPreferred waits until every shard, partitions and group shards,
// is led by its preferred replica: from then on the balancer moves nothing,
// so any leadership change is an election.
func waitAllPreferred(t *testing.T, c *testcluster.Cluster, within time.Duration) {
	t.Helper()
	testutil.Eventually(t, within, func() error {
		wrong := 0
		b := c.Brokers[0]
		for _, p := range b.Node.Meta().ReplicaSetsOf(b.Node.ID()) {
			if leader, _, ok := b.Node.Leader(p.ShardID); !ok || leader != p.Replicas[0] {
				wrong++
			}
		}
		if wrong > 0 {
			return fmt.Errorf("%d shards not led by their preferred replica", wrong)
		}
		return nil
	})
}

// shardTerms is every shard's leader and term as the first broker sees
// them, to name the shards an unexpected leadership change touched.
func shardTerms(c *testcluster.Cluster) map[uint64][2]uint64 {
	out := map[uint64][2]uint64{}
	b := c.Brokers[0]
	for _, shard := range b.Node.HostedShards() {
		if leader, term, ok := b.Node.Leader(shard); ok {
			out[shard] = [2]uint64{leader, term}
		}
	}
	return out
}

func termMoves(before, after map[uint64][2]uint64) string {
	var moves []string
	for shard, a := range after {
		if b := before[shard]; b != a {
			moves = append(moves, fmt.Sprintf("%d: leader %d term %d -> leader %d term %d", shard, b[0], b[1], a[0], a[1]))
		}
	}
	sort.Strings(moves)
	return strings.Join(moves, "; ")
}

func leadershipChanges(c *testcluster.Cluster) int64 {
	var n int64
	for _, b := range c.Brokers {
		n += b.Node.Events.PartitionLeaderChanges.Load() + b.Node.Events.MetaLeaderChanges.Load()
	}
	return n
}

// TestLeadersBalancedAndSteady: six partitions on three brokers are led two
// per broker (their preferred replicas) when CreateTopics answers; under steady load no leadership changes at all; after a
// broker restart the leaders come back into balance.
//
// Not parallel: "no election under load" needs the CPU to itself, or a
// starved Raft tick can cost a leadership.
func TestLeadersBalancedAndSteady(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 3})
	seeds := c.Addrs()
	createTopic(t, seeds, "balance", 6, 3)
	// CreateTopics answers once the preferred replicas lead.
	waitBalanced(t, c, 2, 500*time.Millisecond)
	waitAllPreferred(t, c, 30*time.Second)

	before, terms := leadershipChanges(c), shardTerms(c)
	cl := newClient(t, seeds)
	for i := 0; i < 10; i++ {
		produceN(t, cl, "balance", "s", 500)
		// Deliberately steady: load spread over several seconds, in which
		// no election may happen.
		time.Sleep(500 * time.Millisecond)
	}
	if after := leadershipChanges(c); after != before {
		t.Fatalf("%d leadership changes while nothing failed; shards whose leader or term moved (shard: before -> after): %s",
			after-before, termMoves(terms, shardTerms(c)))
	}
	waitBalanced(t, c, 2, time.Second)

	c.StopBroker(0)
	c.StartBroker(0)
	c.WaitReady(60 * time.Second)
	waitBalanced(t, c, 2, 30*time.Second)
}
