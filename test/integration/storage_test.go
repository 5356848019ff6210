package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// mountOrSkip runs mount(8) with args, skipping the test when this is not
// root or the mount fails (a container without CAP_SYS_ADMIN), and
// unmounts target at cleanup.
func mountOrSkip(t *testing.T, target string, args ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small file system per broker")
	}
	if out, err := exec.Command("mount", append(args, target)...).CombinedOutput(); err != nil {
		t.Skipf("mount %v %s: %v: %s", args, target, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", target).Run() })
}

func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// partitionLedBy returns a partition of topic led by broker id (which
// others lead when want is false), waiting for leaders to settle.
func partitionLedBy(t *testing.T, c *testcluster.Cluster, topic string, id uint64, want bool) (int32, uint64) {
	t.Helper()
	var idx int32
	var shard uint64
	err := testutil.Poll(20*time.Second, func() error {
		node := c.Brokers[0].Node
		for _, p := range node.Meta().Topics[topic].Partitions {
			l, _, ok := node.Leader(p.ShardID)
			if ok && (l == id) == want {
				idx, shard = p.Index, p.ShardID
				return nil
			}
		}
		return fmt.Errorf("no partition of %s led by broker %d (%t)", topic, id, want)
	})
	if err != nil {
		t.Fatal(err)
	}
	return idx, shard
}

// produceTo sends one record to one partition straight to broker id and
// returns the partition's error code.
func produceTo(ctx context.Context, t *testing.T, cl *kgo.Client, id int32, topic string, partition int32, value string) int16 {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = topic, topicID(t, cl, topic)
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = rawBatch(t, []byte(value), time.Now().UnixMilli())
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl.Broker(int(id)))
	if err != nil {
		t.Fatalf("produce to broker %d: %v", id, err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// Below --min-free-disk-bytes, Produce to the partitions broker 1 leads
// answers KAFKA_STORAGE_ERROR while the other brokers' leaders keep
// accepting (broker 1 still follows them); once space returns, a client
// that kept retrying gets its records in, and nothing acknowledged is
// lost.
func TestDiskFloorRefusesProduceUntilSpaceReturns(t *testing.T) {
	dir := t.TempDir()
	node1 := filepath.Join(dir, "node1")
	if err := os.MkdirAll(node1, 0o755); err != nil {
		t.Fatal(err)
	}
	mountOrSkip(t, node1, "-t", "tmpfs", "-o", "size=512m", "tmpfs")
	const floor = 64 << 20
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Dir: dir, Adjust: func(cfg *config.Config) {
		cfg.GroupShards = 1
		if cfg.NodeID == 1 {
			cfg.MinFreeDiskBytes = floor
		}
	}})
	seeds := c.Addrs()
	const topic = "disk-floor"
	createTopic(t, seeds, topic, 6, 3)
	cl := newClient(t, seeds)
	before := produceN(t, cl, topic, "before", 60)
	local, _ := partitionLedBy(t, c, topic, 1, true)
	remote, _ := partitionLedBy(t, c, topic, 1, false)

	// Fill broker 1's file system to half the floor.
	filler := filepath.Join(node1, "filler")
	fill := freeBytes(t, node1) - floor/2
	if err := exec.Command("fallocate", "-l", strconv.FormatInt(fill, 10), filler).Run(); err != nil {
		t.Fatalf("fallocate %d bytes: %v", fill, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := testutil.Poll(5*time.Second, func() error {
		if code := produceTo(ctx, t, cl, 1, topic, local, "refused"); code != kerr.KafkaStorageError.Code {
			return fmt.Errorf("produce to broker 1's leader answered %d, want KAFKA_STORAGE_ERROR", code)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !c.Brokers[0].Node.MetricsState().DiskBelowFloor {
		t.Error("MetricsState().DiskBelowFloor is false below the floor")
	}
	remoteLeader, _, _ := c.Brokers[0].Node.Leader(c.Brokers[0].Node.Meta().Topics[topic].Partitions[remote].ShardID)
	if code := produceTo(ctx, t, cl, int32(remoteLeader), topic, remote, "accepted"); code != 0 {
		t.Fatalf("produce to broker %d's leader while broker 1 is below the floor: code %d", remoteLeader, code)
	}

	// A client keeps retrying broker 1's partition until space returns.
	retried := make(chan error, 1)
	go func() {
		r := &kgo.Record{Topic: topic, Partition: local, Value: []byte("retried")}
		retried <- newClient(t, seeds, kgo.RecordPartitioner(kgo.ManualPartitioner())).ProduceSync(ctx, r).FirstErr()
	}()
	time.Sleep(time.Second)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-retried:
		if err != nil {
			t.Fatalf("produce retried across the refusal: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("produce did not resume after space returned")
	}
	after := produceN(t, cl, topic, "after", 60)
	got := consumeAll(t, seeds, topic, len(before)+len(after)+2)
	checkRecords(t, append(before, after...), got)
}
