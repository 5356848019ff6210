package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
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

// An I/O error in one partition replica (its directory remounted
// read-only, so the next segment roll or checkpoint fails with EROFS)
// takes that replica offline: the broker keeps serving, its other
// replica keeps up, the partition keeps taking writes through its other
// replicas, DescribeLogDirs names the failed directory, and once the
// directory is writable again the replica is restarted and catches up.
func TestStorageFaultTakesOneReplicaOffline(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to remount a partition directory read-only")
	}
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) {
		cfg.GroupShards = 1
		cfg.MinSegmentBytes = 1024
	}})
	seeds := c.Addrs()
	cl := newClient(t, seeds)
	const topic = "faulty"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	segBytes := "4096"
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 3, map[string]*string{"segment.bytes": &segBytes}, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	before := produceN(t, cl, topic, "before", 40)

	node := c.Brokers[0].Node
	parts := node.Meta().Topics[topic].Partitions
	faulty, healthy := parts[0].ShardID, parts[1].ShardID
	dir := node.PartitionDir(faulty)
	mountOrSkip(t, dir, "--bind", dir)
	if out, err := exec.Command("mount", "-o", "remount,bind,ro", dir).CombinedOutput(); err != nil {
		t.Skipf("remount %s read-only: %v: %s", dir, err, out)
	}
	during := producePadded(ctx, t, newClient(t, seeds, kgo.RecordPartitioner(kgo.ManualPartitioner())), topic, "during", 100, 1024)
	// Deleting records checkpoints every replica (a file created next to
	// the log): broker 1's replica of partition 0 fails there if no
	// segment roll failed first.
	var dels kadm.Offsets
	dels.Add(kadm.Offset{Topic: topic, Partition: 0, At: 5})
	if _, err := kadm.NewClient(cl).DeleteRecords(ctx, dels); err != nil {
		t.Fatalf("delete records: %v", err)
	}
	if err := testutil.Poll(10*time.Second, func() error {
		if node.OfflineReplicas()[faulty] == nil {
			return fmt.Errorf("broker 1's replica of shard %d is not offline", faulty)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("offline: %v", node.OfflineReplicas()[faulty])
	if _, ok := node.Partition(faulty); ok {
		t.Error("the offline replica is still served")
	}
	if err := testutil.Poll(5*time.Second, func() error {
		if l, _, ok := node.Leader(faulty); !ok || l == 1 {
			return fmt.Errorf("broker 1 answers leader %d (known %t) for the partition whose replica is offline", l, ok)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	if n := storageErrors(t, c, topic, "0"); n < 1 {
		t.Errorf("longboat_storage_errors_total{topic=%q,partition=\"0\"} = %v", topic, n)
	}
	if st := node.MetricsState(); st.OfflineReplicas != 1 {
		t.Errorf("MetricsState().OfflineReplicas = %d, want 1", st.OfflineReplicas)
	}
	dirs, err := kmsg.NewPtrDescribeLogDirsRequest().RequestWith(ctx, cl.Broker(1))
	if err != nil {
		t.Fatal(err)
	}
	named := false
	for _, d := range dirs.Dirs {
		named = named || (d.Dir == dir && d.ErrorCode == kerr.KafkaStorageError.Code)
	}
	if !named {
		t.Errorf("DescribeLogDirs does not show %s with KAFKA_STORAGE_ERROR: %+v", dir, dirs.Dirs)
	}
	// The broker's other replica keeps up with its leader.
	if err := testutil.Poll(10*time.Second, func() error { return caughtUp(c, healthy) }); err != nil {
		t.Fatal(err)
	}

	if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
		t.Fatalf("umount %s: %v: %s", dir, err, out)
	}
	if err := testutil.Poll(20*time.Second, func() error {
		if err := node.OfflineReplicas()[faulty]; err != nil {
			return fmt.Errorf("still offline: %w", err)
		}
		return caughtUp(c, faulty)
	}); err != nil {
		t.Fatal(err)
	}
	after := produceN(t, cl, topic, "after", 40)
	var all []record
	for _, r := range append(append(before, during...), after...) {
		if r.partition != 0 || r.offset >= 5 {
			all = append(all, r)
		}
	}
	checkRecords(t, all, consumeAll(t, seeds, topic, len(all)))
}

// caughtUp tells whether broker 1's replica of shard has the high
// watermark of the shard's leader.
func caughtUp(c *testcluster.Cluster, shard uint64) error {
	l, _, ok := c.Brokers[0].Node.Leader(shard)
	if !ok {
		return fmt.Errorf("shard %d has no leader", shard)
	}
	lp, ok := c.Brokers[l-1].Node.Partition(shard)
	if !ok {
		return fmt.Errorf("leader %d does not serve shard %d", l, shard)
	}
	p, ok := c.Brokers[0].Node.Partition(shard)
	if !ok {
		return fmt.Errorf("broker 1 does not serve shard %d", shard)
	}
	if p.HighWatermark() != lp.HighWatermark() {
		return fmt.Errorf("broker 1's replica of shard %d at %d, its leader at %d", shard, p.HighWatermark(), lp.HighWatermark())
	}
	return nil
}

// producePadded sends n records of about size bytes, alternating between
// partitions 0 and 1 (cl must partition manually), and returns what was
// acknowledged.
func producePadded(ctx context.Context, t *testing.T, cl *kgo.Client, topic, prefix string, n, size int) []record {
	t.Helper()
	rs := make([]*kgo.Record, n)
	for i := range rs {
		v := fmt.Sprintf("%s-%d-", prefix, i)
		pad := make([]byte, max(0, size-len(v))/2)
		rand.Read(pad) // incompressible: the bytes reach the log
		rs[i] = &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: []byte(v + hex.EncodeToString(pad))}
	}
	res := cl.ProduceSync(ctx, rs...)
	if err := res.FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	out := make([]record, 0, n)
	for _, r := range res {
		out = append(out, record{r.Record.Partition, r.Record.Offset, string(r.Record.Value)})
	}
	return out
}

// storageErrors reads broker 1's longboat_storage_errors_total of one
// partition from its registry.
func storageErrors(t *testing.T, c *testcluster.Cluster, topic, partition string) float64 {
	t.Helper()
	fams, err := c.Brokers[0].Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "longboat_storage_errors_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["topic"] == topic && labels["partition"] == partition {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// A replica that cannot open (here a corrupt checkpoint) no longer
// crash-loops its broker: the broker starts, serves its other partitions,
// keeps that replica offline and retrying, and the replica catches up once
// the file is repaired.
func TestCorruptReplicaDoesNotStopTheBroker(t *testing.T) {
	t.Parallel() // its polls allow for a loaded machine
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) { cfg.GroupShards = 1 }})
	seeds := c.Addrs()
	const topic = "corrupt"
	createTopic(t, seeds, topic, 2, 3)
	cl := newClient(t, seeds, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	before := producePadded(ctx, t, cl, topic, "before", 40, 100)

	parts := c.Brokers[0].Node.Meta().Topics[topic].Partitions
	faulty, healthy := parts[0].ShardID, parts[1].ShardID
	checkpoint := filepath.Join(c.Brokers[0].Node.PartitionDir(faulty), "checkpoint.json")
	c.StopBroker(0)
	good, err := os.ReadFile(checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(checkpoint, []byte("{corrupt"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.StartBroker(0)
	node := c.Brokers[0].Node
	if err := testutil.Poll(15*time.Second, func() error {
		if node.OfflineReplicas()[faulty] == nil {
			return fmt.Errorf("broker 1's replica of shard %d is not offline", faulty)
		}
		return caughtUp(c, healthy)
	}); err != nil {
		t.Fatal(err)
	}
	during := producePadded(ctx, t, cl, topic, "during", 40, 100)
	if err := testutil.Poll(10*time.Second, func() error { return caughtUp(c, healthy) }); err != nil {
		t.Fatal(err)
	}

	if err := os.WriteFile(checkpoint, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := testutil.Poll(20*time.Second, func() error {
		if err := node.OfflineReplicas()[faulty]; err != nil {
			return fmt.Errorf("still offline: %w", err)
		}
		return caughtUp(c, faulty)
	}); err != nil {
		t.Fatal(err)
	}
	all := append(before, during...)
	checkRecords(t, all, consumeAll(t, seeds, topic, len(all)))
}
