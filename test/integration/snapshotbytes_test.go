package integration

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// TestSnapshotByBytes: a partition replica takes its Raft snapshot once the
// entries applied since the last one hold --raft-snapshot-bytes, long
// before --raft-snapshot-entries. Each replica's checkpoint (written only
// when the replica syncs for a snapshot, while it runs) must reflect most
// of 120 entries of ~8 KiB when snapshots are due every 1,000 entries or
// 256 KiB.
func TestSnapshotByBytes(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) {
		cfg.SnapshotEntries = 1000
		cfg.SnapshotBytes = 256 << 10
	}})
	const topic, entries = "snapshot-bytes", 120
	createTopic(t, c.Addrs(), topic, 1, 3)
	cl := newClient(t, c.Addrs(), kgo.ProducerLinger(0))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range entries {
		// One at a time: each produce request is one Raft entry.
		// Incompressible, so the entries hold what is sent.
		value := make([]byte, 8<<10)
		rand.Read(value)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: value}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	shard := c.Brokers[0].Node.Meta().Topics[topic].Partitions[0].ShardID
	testutil.Eventually(t, 30*time.Second, func() error {
		for i, b := range c.Brokers {
			path := filepath.Join(b.Node.PartitionDir(shard), "checkpoint.json")
			raw, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("broker %d: %w", i+1, err)
			}
			var cp struct {
				Applied uint64 `json:"applied"`
			}
			if err := json.Unmarshal(raw, &cp); err != nil {
				return fmt.Errorf("broker %d: %s: %w", i+1, path, err)
			}
			// 256 KiB is ~31 entries: at least three snapshots by now.
			if cp.Applied < entries*3/4 {
				return fmt.Errorf("broker %d: checkpoint at Raft index %d, want >= %d (a snapshot every ~31 entries)", i+1, cp.Applied, entries*3/4)
			}
		}
		return nil
	})
}
