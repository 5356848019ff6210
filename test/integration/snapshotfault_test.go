package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/testutil"
)

// TestSnapshotInstallFaultTakesOneReplicaOffline: a broker that returns
// after missing more than the Raft log keeps is caught up by a snapshot,
// and here its partition directory is a tmpfs with room for checkpoints but
// not for what it missed, so the install fails with a real ENOSPC. That
// costs the replica (offline, retried), never the broker (dragonboat
// panics on an install error it is handed); once space returns the replica
// installs the snapshot again and holds the leader's batches.
func TestSnapshotInstallFaultTakesOneReplicaOffline(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small file system under a partition")
	}
	t.Parallel() // its polls allow for a loaded machine
	c := startShortRaftLogCluster(t, 256<<10)
	seeds := c.Addrs()
	const topic = "install-fault"
	createTopic(t, seeds, topic, 1, 3)
	value := bytes.Repeat([]byte("v"), 1000)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	produce := func(cl *kgo.Client, prefix string, n int) []record {
		t.Helper()
		out := make([]record, 0, n)
		for i := range n {
			r := &kgo.Record{Topic: topic, Value: append([]byte(fmt.Sprintf("%s-%d-", prefix, i)), value...)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
			out = append(out, record{r.Partition, r.Offset, string(r.Value)})
		}
		return out
	}
	noCompression := kgo.ProducerBatchCompression(kgo.NoCompression())
	all := produce(newClient(t, seeds, noCompression), "before", 50)
	shard := c.Brokers[0].Node.Meta().Topics[topic].Partitions[0].ShardID
	waitReplicasEqual(t, c, 0, 2)
	dir := c.Brokers[2].Node.PartitionDir(shard)

	c.StopBroker(2)
	// One Raft entry per record, far more than the Raft log keeps.
	all = append(all, produce(newClient(t, seeds[:2], noCompression), "missed", 300)...)

	// Broker 3's partition directory moves onto a 4 MiB tmpfs left with
	// 64 KiB free: checkpoints fit, the ~300 KB it missed do not.
	saved := t.TempDir()
	if out, err := exec.Command("cp", "-a", dir+"/.", saved).CombinedOutput(); err != nil {
		t.Fatalf("save %s: %v: %s", dir, err, out)
	}
	mountOrSkip(t, dir, "-t", "tmpfs", "-o", "size=4m", "tmpfs")
	if out, err := exec.Command("cp", "-a", saved+"/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("restore %s: %v: %s", dir, err, out)
	}
	filler := filepath.Join(dir, "filler")
	if err := exec.Command("fallocate", "-l", strconv.FormatInt(freeBytes(t, dir)-64<<10, 10), filler).Run(); err != nil {
		t.Fatalf("fill %s: %v", dir, err)
	}

	c.StartBroker(2)
	node := c.Brokers[2].Node
	var fault error
	if err := testutil.Poll(60*time.Second, func() error {
		if fault = node.OfflineReplicas()[shard]; fault == nil {
			return fmt.Errorf("broker 3's replica of shard %d is not offline", shard)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("offline: %v", fault)
	if !strings.Contains(fault.Error(), "snapshot") || !strings.Contains(fault.Error(), "no space left on device") {
		t.Errorf("the fault %q is not the snapshot install's ENOSPC", fault)
	}
	if n := node.Events.SnapshotsReceived.Load(); n == 0 {
		t.Error("broker 3 received no snapshot; the test did not exercise an install")
	}
	// The partition keeps taking writes through the other two replicas.
	all = append(all, produce(newClient(t, seeds, noCompression), "during", 20)...)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := testutil.Poll(90*time.Second, func() error {
		if err := node.OfflineReplicas()[shard]; err != nil {
			return fmt.Errorf("still offline: %w", err)
		}
		p0, ok0 := c.Brokers[0].Node.Partition(shard)
		p2, ok2 := node.Partition(shard)
		if !ok0 || !ok2 || p0.HighWatermark() != p2.HighWatermark() {
			return fmt.Errorf("broker 3's replica has not caught up")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, want := replicaBytes(t, c, 2, shard), replicaBytes(t, c, 0, shard); !bytes.Equal(got, want) {
		t.Fatalf("broker 3's replica holds %d bytes that differ from broker 1's %d", len(got), len(want))
	}
	checkRecords(t, all, consumeAll(t, seeds, topic, len(all)))
}
