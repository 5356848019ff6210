package integration

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/longboat/longboat/internal/meta"
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
// is led by its preferred replica as every broker's own NodeHost sees it,
// and every broker knows the __meta leader: from then on the balancer
// moves nothing and no replica is still to hear of its first leader (which
// counts as a leadership change on that broker), so any change is an
// election.
func waitAllPreferred(t *testing.T, c *testcluster.Cluster, within time.Duration) {
	t.Helper()
	testutil.Eventually(t, within, func() error {
		preferred := map[uint64]uint64{}
		b0 := c.Brokers[0]
		for _, p := range b0.Node.Meta().ReplicaSetsOf(b0.Node.ID()) {
			preferred[p.ShardID] = p.Replicas[0]
		}
		for _, b := range c.Brokers {
			if b == nil {
				continue
			}
			if _, _, ok := b.Node.Leader(meta.ShardID); !ok {
				return fmt.Errorf("broker %d knows no __meta leader", b.Node.ID())
			}
			for _, shard := range b.Node.HostedShards() {
				leader, _, ok := b.Node.Leader(shard)
				if want, known := preferred[shard]; !ok || (known && leader != want) {
					return fmt.Errorf("broker %d sees shard %d led by %d, want its preferred replica %d", b.Node.ID(), shard, leader, want)
				}
			}
		}
		return nil
	})
}

// shardTerms is every shard's leader and term as each broker sees them,
// __meta included, to name the shards an unexpected leadership change
// touched and the broker that saw it.
func shardTerms(c *testcluster.Cluster) map[string][2]uint64 {
	out := map[string][2]uint64{}
	for _, b := range c.Brokers {
		if b == nil {
			continue
		}
		for _, shard := range append(b.Node.HostedShards(), meta.ShardID) {
			leader, term, _ := b.Node.Leader(shard)
			out[fmt.Sprintf("broker %d shard %d", b.Node.ID(), shard)] = [2]uint64{leader, term}
		}
	}
	return out
}

func termMoves(before, after map[string][2]uint64) string {
	var moves []string
	for where, a := range after {
		if b := before[where]; b != a {
			moves = append(moves, fmt.Sprintf("%s: leader %d term %d -> leader %d term %d", where, b[0], b[1], a[0], a[1]))
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

	// A leader update dragonboat has yet to deliver would count below.
	testutil.Eventually(t, 10*time.Second, func() error {
		n := leadershipChanges(c)
		time.Sleep(time.Second)
		if m := leadershipChanges(c); m != n {
			return fmt.Errorf("leadership changes still counted: %d -> %d", n, m)
		}
		return nil
	})
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
