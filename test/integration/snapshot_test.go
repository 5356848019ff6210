package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// TestCatchUpBySnapshot keeps a broker down while the others commit far
// more entries than the Raft log keeps, so that the returning replica can
// only catch up from a streamed partition snapshot; then it must serve
// everything once another broker is away.
func TestCatchUpBySnapshot(t *testing.T) {
	t.Parallel()
	c := startShortRaftLogCluster(t, 64<<10) // several segments per snapshot
	seeds := c.Addrs()
	createTopic(t, seeds, "snap", 3, 3)
	produced := produceN(t, newClient(t, seeds), "snap", "a", 500)
	c.StopBroker(2)
	live := seeds[:2]
	// One record per request: one Raft entry each, far more than the log keeps.
	cl := newClient(t, live)
	for i := 0; i < 300; i++ {
		r := &kgo.Record{Topic: "snap", Value: []byte(fmt.Sprintf("b-%d", i))}
		if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatalf("produce while broker 3 is down: %v", err)
		}
		produced = append(produced, record{r.Partition, r.Offset, string(r.Value)})
	}
	c.StartBroker(2)
	c.WaitReady(60 * time.Second)
	// Wait until broker 3's replicas hold what broker 1's do, then make it
	// necessary for every quorum.
	waitReplicasEqual(t, c, 0, 2)
	if n := c.Brokers[2].Node.Events.SnapshotsReceived.Load(); n == 0 {
		t.Fatal("broker 3 caught up without a snapshot; the test did not exercise snapshot transfer")
	}
	c.StopBroker(0)
	consumed := consumeAll(t, []string{seeds[1], seeds[2]}, "snap", len(produced))
	checkSameRecords(t, produced, consumed)
}

// waitReplicasEqual waits until broker b's replicas have the same high
// watermark as broker a's, for every partition they share.
func waitReplicasEqual(t *testing.T, c *testcluster.Cluster, a, b int) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, func() error {
		behind := 0
		for _, shard := range c.Brokers[a].Node.HostedShards() {
			pa, okA := c.Brokers[a].Node.Partition(shard)
			pb, okB := c.Brokers[b].Node.Partition(shard)
			if !okA || !okB || pa.HighWatermark() != pb.HighWatermark() {
				behind++
			}
		}
		if behind > 0 {
			return fmt.Errorf("broker %d behind broker %d on %d partitions", b+1, a+1, behind)
		}
		return nil
	})
}
