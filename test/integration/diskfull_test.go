package integration

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// TestDiskFullKeepsTheBrokerUp fills broker 1's whole data directory, the
// Raft log store included, for real: it is a 128 MiB tmpfs left with less
// free space than its floor, and three times that free space is then
// produced to a partition led elsewhere, which broker 1 follows. Under half
// its floor broker 1 stops taking that partition's Raft entries, so
// dragonboat (which panics the process when a log store write fails) never
// meets ENOSPC; a restart while full comes up; the partition keeps taking
// writes through the other two replicas; once space returns broker 1
// catches up and nothing acknowledged is lost.
//
// It runs without the race detector (scripts/test.sh runs it on its own):
// under it, broker 1's catch-up of what it missed often did not finish
// within two minutes. The race runtime's bookkeeping of dragonboat's large
// reads took most of the CPU (profile): the leader reads the lagging
// entries back from its Raft log for every heartbeat answer, and the
// follower its last entry for every pre-vote, so broker 1's replica
// missed election after election.
func TestDiskFullKeepsTheBrokerUp(t *testing.T) {
	if raceEnabled {
		t.Skip("runs without -race: see the comment above")
	}
	t.Parallel() // its own file system; its polls allow for a loaded machine
	dir := t.TempDir()
	node1 := filepath.Join(dir, "node1")
	if err := os.MkdirAll(node1, 0o755); err != nil {
		t.Fatal(err)
	}
	mountOrSkip(t, node1, "-t", "tmpfs", "-o", "size=128m", "tmpfs")
	const floor = 8 << 20
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Dir: dir, Adjust: func(cfg *config.Config) {
		cfg.GroupShards = 1
		if cfg.NodeID == 1 {
			cfg.MinFreeDiskBytes = floor
		}
	}})
	seeds := c.Addrs()
	const topic = "disk-full"
	createTopic(t, seeds, topic, 3, 3)
	// A partition broker 1 neither leads nor is the preferred leader of,
	// so that the balancer does not hand it to broker 1 either.
	var part int32
	var shard uint64
	if err := testutil.Poll(20*time.Second, func() error {
		node := c.Brokers[0].Node
		for _, p := range node.Meta().Topics[topic].Partitions {
			if l, _, ok := node.Leader(p.ShardID); ok && l != 1 && p.Replicas[0] != 1 {
				part, shard = p.Index, p.ShardID
				return nil
			}
		}
		return fmt.Errorf("no partition of %s led and preferred elsewhere than broker 1", topic)
	}); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, seeds, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var all []record
	produce := func(prefix string, n, size int) {
		t.Helper()
		rs := make([]*kgo.Record, n)
		for i := range rs {
			v := make([]byte, size)
			rand.Read(v) // incompressible: the bytes reach the logs
			rs[i] = &kgo.Record{Topic: topic, Partition: part, Value: append([]byte(fmt.Sprintf("%s-%d-", prefix, i)), v...)}
		}
		res := cl.ProduceSync(ctx, rs...)
		if err := res.FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", prefix, err)
		}
		for _, r := range res {
			all = append(all, record{r.Record.Partition, r.Record.Offset, string(r.Record.Value)})
		}
	}
	produce("before", 20, 1000)
	if err := testutil.Poll(30*time.Second, func() error { return caughtUp(c, shard) }); err != nil {
		t.Fatal(err)
	}

	// Below the floor (produce to broker 1's own leaders is refused) but
	// above half of it: broker 1 still follows.
	filler := filepath.Join(node1, "filler")
	left := int64(floor * 3 / 4)
	if err := exec.Command("fallocate", "-l", strconv.FormatInt(freeBytes(t, node1)-left, 10), filler).Run(); err != nil {
		t.Fatalf("fill %s: %v", node1, err)
	}
	lowest := freeBytes(t, node1)
	for round := range 9 { // 9 x 32 x 64 KiB: 18 MiB, three times what is left
		produce(fmt.Sprintf("full%d", round), 32, 64<<10)
		lowest = min(lowest, freeBytes(t, node1))
	}
	node := c.Brokers[0].Node
	t.Logf("broker 1: %d bytes free at the lowest (floor %d), %d Raft messages refused", lowest, floor, node.Events.RaftRefusedForDisk.Load())
	if lowest < floor/4 {
		t.Errorf("broker 1's file system went down to %d free bytes, below a quarter of its floor", lowest)
	}
	if n := node.Events.RaftRefusedForDisk.Load(); n == 0 {
		t.Error("broker 1 refused no Raft message: the test did not fill its disk")
	}
	if caughtUp(c, shard) == nil {
		t.Error("broker 1's replica kept up although its disk is full")
	}
	if off := node.OfflineReplicas(); len(off) > 0 {
		t.Errorf("replicas offline on broker 1: %v", off)
	}

	// A restart while full neither fails nor fills the disk.
	c.StopBroker(0)
	c.StartBroker(0)
	produce("restarted", 20, 1000)
	if free := freeBytes(t, node1); free < floor/4 {
		t.Errorf("after a restart while full broker 1 has %d free bytes", free)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := testutil.Poll(120*time.Second, func() error { // -race on a loaded machine: tens of seconds
		if off := c.Brokers[0].Node.OfflineReplicas(); len(off) > 0 {
			return fmt.Errorf("replicas offline on broker 1: %v", off)
		}
		return caughtUp(c, shard)
	}); err != nil {
		t.Fatal(err)
	}
	produce("after", 20, 1000)
	checkRecords(t, all, consumeAll(t, seeds, topic, len(all)))
}
