package integration

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// metadataISRs asks broker id for a topic's metadata and returns each
// partition's ISR.
func metadataISRs(ctx context.Context, cl *kgo.Client, id int32, topic string) (map[int32][]int32, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl.Broker(int(id)))
	if err != nil {
		return nil, fmt.Errorf("metadata from broker %d: %w", id, err)
	}
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		return nil, fmt.Errorf("metadata from broker %d: topics %+v", id, resp.Topics)
	}
	out := map[int32][]int32{}
	for _, p := range resp.Topics[0].Partitions {
		isr := slices.Clone(p.ISR)
		slices.Sort(isr)
		out[p.Partition] = isr
	}
	return out, nil
}

// waitISRs waits until every running broker's Metadata names want as the
// ISR of each of the topic's partitions.
func waitISRs(t *testing.T, c *testcluster.Cluster, cl *kgo.Client, topic string, partitions int, want []int32, within time.Duration) {
	t.Helper()
	testutil.Eventually(t, within, func() error {
		for i, b := range c.Brokers {
			if b == nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			isrs, err := metadataISRs(ctx, cl, int32(c.Configs[i].NodeID), topic)
			cancel()
			if err != nil {
				return err
			}
			if len(isrs) != partitions {
				return fmt.Errorf("broker %d: %d partitions, want %d", i+1, len(isrs), partitions)
			}
			for p, isr := range isrs {
				if !slices.Equal(isr, want) {
					return fmt.Errorf("broker %d: partition %d ISR %v, want %v", i+1, p, isr, want)
				}
			}
		}
		return nil
	})
}

// TestISRFollowsFollowers: a stopped broker leaves every ISR, on every live
// broker's Metadata, and the partitions count as under-replicated; after it
// restarts and catches up it rejoins them, and the leader balancer hands it
// back the partitions it prefers only once their leaders count it in sync.
// On loopback a restarted broker catches up about as soon as /readyz
// passes, so that last check guards the order rather than tells the new
// rule from the old /readyz-only one; TestBalancerMovesOnlyToInSync does.
func TestISRFollowsFollowers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-broker cluster")
	}
	const topic, partitions = "isr", 6
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) {
		cfg.ReplicaLagTimeMax = 3 * time.Second
		cfg.LeaderBalanceInterval = 2 * time.Second
	}})
	seeds := c.Addrs()
	createTopic(t, seeds, topic, partitions, 3)
	waitAllPreferred(t, c, 30*time.Second)
	cl := newClient(t, seeds)
	produceN(t, cl, topic, "before", 600)
	waitISRs(t, c, cl, topic, partitions, []int32{1, 2, 3}, 10*time.Second)
	if v := metricSum(t, c, "longboat_under_replicated_partitions"); v != 0 {
		t.Fatalf("under-replicated partitions %v with every follower in sync", v)
	}

	c.StopBroker(2)
	produced := produceN(t, cl, topic, "while-down", 3000)
	waitISRs(t, c, cl, topic, partitions, []int32{1, 2}, 20*time.Second)
	waitMetric(t, c, "longboat_under_replicated_partitions", func(v float64) bool { return v == partitions }, 10*time.Second)
	// Every shard broker 1 leads, partitions and group shards (partitions
	// of __consumer_offsets), has a replica on broker 3: /readyz counts
	// them all once their ISRs have dropped it.
	testutil.Eventually(t, 15*time.Second, func() error {
		b := c.Brokers[0].Node
		ledByFirst := 0
		for _, p := range b.Meta().ReplicaSetsOf(b.ID()) {
			if _, ok := b.IsLeader(p.ShardID); ok {
				ledByFirst++
			}
		}
		code, body := readyz(t, c.HTTPAddr(0))
		if code != http.StatusOK {
			t.Fatalf("/readyz of broker 1 answered %d with a quorum up: under-replication must not fail readiness", code)
		}
		if want := fmt.Sprintf("[info] under-replicated-partitions %d ", ledByFirst); !strings.Contains(body, "\n"+want) {
			return fmt.Errorf("/readyz?verbose of broker 1 leading %d shards lacks %q:\n%s", ledByFirst, want, body)
		}
		return nil
	})

	// Watch, from the two brokers that stayed up, who leads each partition
	// broker 3 prefers and whether its leader counts broker 3 in sync.
	st := c.Brokers[0].Node.Meta()
	preferred := map[uint64][]uint64{} // shard → replicas
	for _, p := range st.Topics[topic].Partitions {
		if p.Replicas[0] == 3 {
			preferred[p.ShardID] = p.Replicas
		}
	}
	if len(preferred) == 0 {
		t.Fatal("broker 3 prefers none of the partitions")
	}
	watchers := c.Brokers[:2]
	var mu sync.Mutex
	sawInSync := map[uint64]bool{}
	ledBeforeInSync := map[uint64]bool{}
	returned := map[uint64]bool{}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			for shard, replicas := range preferred {
				for _, b := range watchers {
					leader, _, ok := b.Node.Leader(shard)
					mu.Lock()
					switch {
					case ok && leader == 3:
						returned[shard] = true
						if !sawInSync[shard] {
							ledBeforeInSync[shard] = true
						}
					case ok && leader == b.Node.ID() && slices.Contains(b.Node.ISR(shard, replicas), 3):
						sawInSync[shard] = true
					}
					mu.Unlock()
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	c.StartBroker(2)
	waitISRs(t, c, cl, topic, partitions, []int32{1, 2, 3}, 60*time.Second)
	waitMetric(t, c, "longboat_under_replicated_partitions", func(v float64) bool { return v == 0 }, 10*time.Second)
	testutil.Eventually(t, 30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(returned) < len(preferred) {
			return fmt.Errorf("broker 3 leads %d of the %d partitions it prefers", len(returned), len(preferred))
		}
		return nil
	})
	stop()
	wg.Wait()
	for shard := range ledBeforeInSync {
		t.Errorf("shard %d: broker 3 led it before its leader counted it in sync", shard)
	}
	consumed := consumeAll(t, seeds, topic, 600+len(produced))
	if got := len(consumed); got != 600+len(produced) {
		t.Errorf("consumed %d records, want %d", got, 600+len(produced))
	}
}
