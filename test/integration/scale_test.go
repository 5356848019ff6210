package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// In a cluster larger than the group shards' replication factor, every
// broker names the same coordinator for every group (the shard's actual
// Raft leader), and Metadata and DescribeCluster agree on every broker.
// Before group shards' leader reports were kept in __meta, the brokers
// without a replica of a group's shard answered COORDINATOR_NOT_AVAILABLE
// for it forever.
func TestFiveBrokersAgreeOnEveryBroker(t *testing.T) {
	t.Parallel() // nothing in it is timed
	c := testcluster.Start(t, testcluster.Options{Nodes: 5})
	seeds := c.Addrs()
	createTopic(t, seeds, "five", 10, 3)
	checkClusterAgreement(t, c, []string{"five"})

	// A group through a client that knows only a broker without a
	// replica of the group's shard commits and reads back its offsets.
	group, outsider := groupOutsideItsShard(t, c)
	produced := produceN(t, newClient(t, seeds), "five", "v", 50)
	cl := newClient(t, []string{seeds[outsider]}, kgo.ConsumerGroup(group), kgo.ConsumeTopics("five"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	var got []record
	testutil.Eventually(t, 60*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			got = append(got, record{r.Partition, r.Offset, string(r.Value)})
		})
		return atLeast("records consumed", len(got), len(produced))
	})
	checkSameRecords(t, produced, got)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit through broker %d for group %s: %v", outsider+1, group, err)
	}
}

// groupOutsideItsShard finds a group whose shard has no replica on some
// broker, and that broker's index.
func groupOutsideItsShard(t *testing.T, c *testcluster.Cluster) (string, int) {
	t.Helper()
	n := c.Brokers[0].Node
	for i := 0; i < 1000; i++ {
		group := fmt.Sprintf("g-%d", i)
		shard, _ := n.GroupShardFor(group)
		for _, p := range n.Meta().GroupShards {
			if p.ShardID != shard {
				continue
			}
			for b := range c.Brokers {
				if c.Brokers[b] != nil && !slices.Contains(p.Replicas, c.Configs[b].NodeID) {
					return group, b
				}
			}
		}
	}
	t.Fatal("every group shard has a replica on every broker: the cluster is not larger than their replication factor")
	return "", 0
}

// checkClusterAgreement waits until every running broker answers
// FindCoordinator for groups of every shard with the shard's Raft leader,
// and Metadata (brokers, controller, the topics' leaders and replicas) and
// DescribeCluster the same as every other broker.
func checkClusterAgreement(t *testing.T, c *testcluster.Cluster, topics []string) {
	t.Helper()
	var running []int
	for i, b := range c.Brokers {
		if b != nil {
			running = append(running, i)
		}
	}
	groups := groupPerShard(t, c)
	testutil.Eventually(t, 60*time.Second, func() error {
		truth := map[string]int32{}
		for group, shard := range groups {
			for _, i := range running {
				if _, leads := c.Brokers[i].Node.IsLeader(shard); leads {
					truth[group] = int32(c.Configs[i].NodeID)
				}
			}
			if _, ok := truth[group]; !ok {
				return fmt.Errorf("group shard %d has no leader among the running brokers", shard)
			}
		}
		var first string
		for _, i := range running {
			cl := newClient(t, []string{c.Addrs()[i]})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			broker := cl.Broker(int(c.Configs[i].NodeID))
			fc := kmsg.NewPtrFindCoordinatorRequest()
			fc.Version = 4
			for g := range groups {
				fc.CoordinatorKeys = append(fc.CoordinatorKeys, g)
			}
			fr, err := fc.RequestWith(ctx, broker)
			if err != nil {
				return fmt.Errorf("broker %d FindCoordinator: %w", i+1, err)
			}
			for _, co := range fr.Coordinators {
				if co.ErrorCode != 0 || co.NodeID != truth[co.Key] {
					return fmt.Errorf("broker %d: coordinator of %s = node %d (error %d), its shard's leader is %d", i+1, co.Key, co.NodeID, co.ErrorCode, truth[co.Key])
				}
			}
			md := kmsg.NewPtrMetadataRequest()
			for _, name := range topics {
				rt := kmsg.NewMetadataRequestTopic()
				rt.Topic = kmsg.StringPtr(name)
				md.Topics = append(md.Topics, rt)
			}
			mr, err := md.RequestWith(ctx, broker)
			if err != nil {
				return fmt.Errorf("broker %d Metadata: %w", i+1, err)
			}
			dc := kmsg.NewPtrDescribeClusterRequest()
			dr, err := dc.RequestWith(ctx, broker)
			if err != nil {
				return fmt.Errorf("broker %d DescribeCluster: %w", i+1, err)
			}
			view := clusterView(mr, dr)
			if len(mr.Brokers) < len(running) {
				return fmt.Errorf("broker %d lists %d brokers", i+1, len(mr.Brokers))
			}
			if first == "" {
				first = view
			} else if view != first {
				return fmt.Errorf("brokers disagree:\nbroker %d: %s\nbroker %d: %s", running[0]+1, first, i+1, view)
			}
		}
		return nil
	})
}

// clusterView renders what must be equal on every broker: brokers,
// controller, each partition's leader, epoch and replicas, and
// DescribeCluster's brokers and controller.
func clusterView(mr *kmsg.MetadataResponse, dr *kmsg.DescribeClusterResponse) string {
	s := fmt.Sprintf("controller %d;", mr.ControllerID)
	for _, b := range mr.Brokers {
		s += fmt.Sprintf(" broker %d=%s:%d", b.NodeID, b.Host, b.Port)
	}
	for _, tp := range mr.Topics {
		if tp.ErrorCode != 0 {
			return fmt.Sprintf("topic %s: error %d", *tp.Topic, tp.ErrorCode)
		}
		for _, p := range tp.Partitions {
			if p.ErrorCode != 0 {
				return fmt.Sprintf("%s/%d: error %d", *tp.Topic, p.Partition, p.ErrorCode)
			}
			s += fmt.Sprintf(" %s/%d:%d@%d%v", *tp.Topic, p.Partition, p.Leader, p.LeaderEpoch, p.Replicas)
		}
	}
	s += fmt.Sprintf("; describe-cluster %d controller %d", dr.ErrorCode, dr.ControllerID)
	for _, b := range dr.Brokers {
		s += fmt.Sprintf(" %d=%s:%d", b.NodeID, b.Host, b.Port)
	}
	return s
}

// groupPerShard names one group for each group shard.
func groupPerShard(t *testing.T, c *testcluster.Cluster) map[string]uint64 {
	t.Helper()
	var n interface {
		GroupShardFor(string) (uint64, bool)
		GroupShardIDs() []uint64
	}
	for _, b := range c.Brokers {
		if b != nil {
			n = b.Node
			break
		}
	}
	want := len(n.GroupShardIDs())
	out := map[string]uint64{}
	seen := map[uint64]bool{}
	for i := 0; len(seen) < want && i < 10000; i++ {
		g := fmt.Sprintf("group-%d", i)
		shard, _ := n.GroupShardFor(g)
		if !seen[shard] {
			seen[shard] = true
			out[g] = shard
		}
	}
	if len(seen) < want {
		t.Fatalf("found groups for %d of %d group shards", len(seen), want)
	}
	return out
}
