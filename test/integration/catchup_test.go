package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/cluster"
	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/partition"
	"github.com/longboat/longboat/internal/recordbatch"
	"github.com/longboat/longboat/internal/testcluster"
)

// TestCatchUpReceivesOnlyWhatItMissed keeps a broker down while the others
// commit far more entries than the Raft log keeps, on top of a log many
// times larger than what it misses: the returning replica must catch up by
// snapshot, end with the same batches as every other replica, and have
// received a small multiple of what it missed rather than the whole log.
func TestCatchUpReceivesOnlyWhatItMissed(t *testing.T) {
	t.Parallel()
	c := startShortRaftLogCluster(t, 256<<10)
	seeds := c.Addrs()
	createTopic(t, seeds, "catchup", 1, 3)
	value := bytes.Repeat([]byte("v"), 1000)
	cl := newClient(t, seeds, kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchCompression(kgo.NoCompression()))
	produce := func(cl *kgo.Client, n int, sync bool) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for i := 0; i < n; i++ {
			r := &kgo.Record{Topic: "catchup", Value: value}
			if sync {
				if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
					t.Fatalf("produce: %v", err)
				}
				continue
			}
			cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatalf("flush: %v", err)
		}
	}
	produce(cl, 4000, false) // ~4 MB the returning replica already holds
	shard := c.Brokers[0].Node.Meta().Topics["catchup"].Partitions[0].ShardID
	waitReplicasEqual(t, c, 0, 2)
	p0, _ := c.Brokers[0].Node.Partition(shard)
	before := p0.LogSize()

	c.StopBroker(2)
	// One record per request: one Raft entry each, far more than the log keeps.
	produce(newClient(t, seeds[:2], kgo.ProducerBatchCompression(kgo.NoCompression())), 300, true)
	missed := p0.LogSize() - before
	c.StartBroker(2)
	c.WaitReady(60 * time.Second)
	waitReplicasEqual(t, c, 0, 2)
	if n := c.Brokers[2].Node.Events.SnapshotsReceived.Load(); n == 0 {
		t.Fatal("broker 3 caught up without a snapshot; the test did not exercise snapshot transfer")
	}
	installed := installedBytes(t, c, 2, shard)
	t.Logf("log %d bytes before the outage, %d missed, %d snapshot bytes installed", before, missed, installed)
	if installed > 3*missed+64<<10 {
		t.Fatalf("broker 3 installed %d snapshot bytes to catch up on %d missed bytes (log before the outage: %d)", installed, missed, before)
	}

	// More traffic after the catch-up lands identically everywhere too.
	produce(cl, 50, false)
	waitReplicasEqual(t, c, 0, 1)
	waitReplicasEqual(t, c, 0, 2)
	want := replicaBytes(t, c, 0, shard)
	for _, b := range []int{1, 2} {
		if got := replicaBytes(t, c, b, shard); !bytes.Equal(got, want) {
			t.Fatalf("broker %d's replica holds %d bytes that differ from broker 1's %d", b+1, len(got), len(want))
		}
	}
}

// startShortRaftLogCluster starts three brokers whose Raft logs keep only
// ~25 entries, so that a replica away for more is caught up by snapshot.
func startShortRaftLogCluster(t *testing.T, segmentBytes int64) *testcluster.Cluster {
	return testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) {
		cfg.SnapshotEntries = 20
		cfg.CompactionOverheadEntries = 5
		cfg.SegmentBytes = segmentBytes
	}})
}

// installedBytes asks broker b's HTTP listener, as a leader would, how many
// snapshot bytes its replica of shard has read since it started.
func installedBytes(t *testing.T, c *testcluster.Cluster, b int, shard uint64) int64 {
	t.Helper()
	resp, err := http.Get("http://" + c.HTTPAddr(b) + cluster.LogPositionPath(shard))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var pos partition.LogPosition
	if err := json.NewDecoder(resp.Body).Decode(&pos); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("log position of shard %d on broker %d: HTTP %d, %v", shard, b+1, resp.StatusCode, err)
	}
	if pos.NextOffset == 0 {
		t.Fatalf("broker %d reports an empty durable log for shard %d", b+1, shard)
	}
	return pos.SnapshotBytesInstalled
}

// replicaBytes is every batch broker b's replica of shard holds.
func replicaBytes(t *testing.T, c *testcluster.Cluster, b int, shard uint64) []byte {
	t.Helper()
	p, ok := c.Brokers[b].Node.Partition(shard)
	if !ok {
		t.Fatalf("broker %d does not host shard %d", b+1, shard)
	}
	var out []byte
	for off := p.LogStartOffset(); off < p.HighWatermark(); {
		data, err := p.Read(off, 1<<20)
		if err != nil || len(data) == 0 {
			t.Fatalf("broker %d: read offset %d: %d bytes, %v", b+1, off, len(data), err)
		}
		out = append(out, data...)
		for h := range recordbatch.All(data) {
			off = h.LastOffset() + 1
		}
	}
	return out
}
