package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// throttleBytes is the brokers' --reassignment-throttle-bytes in
// TestReassignThrottledAndGroupShard: at 128 KiB/s the 1 MiB move takes at
// least 7 s, still twice what an unthrottled one took at load 50, and the
// test 8 s less than at 64 KiB/s.
const throttleBytes = 128 << 10

// On four brokers with --reassignment-throttle-bytes 128 KiB: a partition
// holding 1 MiB moves onto a broker it lacks no faster than the throttle
// lets its snapshot stream go (less the throttle's one-second burst: 7 s;
// 2 MiB moved unthrottled in 6.3 s at load 50), and completes with every
// record. Then the group shard of a consumer group
// that commits all along is moved off its leader's broker through
// AlterPartitionReassignments on __consumer_offsets: the group keeps
// committing through the move, every broker's FindCoordinator names the
// shard's new leader, the old broker drops its replica, and the committed
// offsets are the consumer's last commits.
func TestReassignThrottledAndGroupShard(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 4, Adjust: func(cfg *config.Config) {
		cfg.ReassignmentThrottleBytes = throttleBytes
		// A short Raft log, so that the broker brought in is sent a
		// snapshot stream (the throttled path) rather than log entries.
		cfg.SnapshotEntries, cfg.CompactionOverheadEntries = 16, 8
		cfg.GroupShards = 4
	}})
	adm := kadm.NewClient(newClient(t, c.Addrs()))
	adm.SetTimeoutMillis(60000)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The throttled move: 16 records of 64 KiB, one Raft entry each.
	const topic = "throttled"
	createTopic(t, c.Addrs(), topic, 1, 2)
	// Uncompressed: the log, and so the stream, holds every byte.
	pcl := newClient(t, c.Addrs(), kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerBatchCompression(kgo.NoCompression()))
	var acked []record
	value := strings.Repeat("x", 64<<10)
	for i := 0; i < 16; i++ {
		r, err := pcl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("%d-%s", i, value))}).First()
		if err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		acked = append(acked, record{r.Partition, r.Offset, string(r.Value)})
	}
	const logBytes = 16 * (64 << 10)
	p := c.Brokers[0].Node.Meta().Topics[topic].Partitions[0]
	spare := spareBroker(p.Replicas, 4)
	target := []int32{int32(p.Replicas[0]), spare}
	start := time.Now()
	moveAndWait(ctx, t, adm, topic, 0, target)
	took := time.Since(start)
	t.Logf("%d KiB moved onto broker %d at %d KiB/s in %v", logBytes>>10, spare, throttleBytes>>10, took.Round(time.Millisecond))
	if least := time.Duration(float64(logBytes-throttleBytes) / throttleBytes * float64(time.Second)); took < least {
		t.Errorf("a move of %d bytes throttled to %d bytes/s took %v, less than %v", logBytes, throttleBytes, took, least)
	}
	checkSameRecords(t, acked, consumeAll(t, c.Addrs(), topic, len(acked)))

	checkGroupShardMove(ctx, t, c, adm)
}

// spareBroker is a broker of 1..n outside replicas.
func spareBroker(replicas []uint64, n int) int32 {
	for b := n; b >= 1; b-- {
		if !slices.Contains(replicas, uint64(b)) {
			return int32(b)
		}
	}
	return 0
}

// moveAndWait reassigns one partition and waits until no move of it is in
// progress.
func moveAndWait(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, partition int32, target []int32) {
	t.Helper()
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, partition, target)
	if resp, err := adm.AlterPartitionAssignments(ctx, req); err != nil || resp.Error() != nil {
		t.Fatalf("AlterPartitionReassignments %s/%d to %v: %v %+v", topic, partition, target, err, resp.Sorted())
	}
	testutil.Eventually(t, 90*time.Second, func() error {
		listed, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {partition: {}}})
		if err != nil {
			return err
		}
		if n := len(listed.Sorted()); n > 0 {
			return fmt.Errorf("%s/%d still moving: %+v", topic, partition, listed.Sorted())
		}
		return nil
	})
}

// committer is a consumer group member that commits what it polled after
// each poll, and keeps the offsets of its last successful commit.
type committer struct {
	mu        sync.Mutex
	committed map[int32]int64
	commits   int
	failed    int
	lastErr   error
}

func (m *committer) run(ctx context.Context, cl *kgo.Client) {
	for ctx.Err() == nil {
		fs := cl.PollRecords(ctx, 20)
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		err := cl.CommitRecords(ctx, recs...)
		m.mu.Lock()
		if err != nil {
			m.failed++
			m.lastErr = err
		} else {
			m.commits++
			for _, r := range recs {
				m.committed[r.Partition] = max(m.committed[r.Partition], r.Offset+1)
			}
		}
		m.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
}

func (m *committer) state() (map[int32]int64, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[int32]int64{}
	for p, o := range m.committed {
		out[p] = o
	}
	return out, m.commits
}

func checkGroupShardMove(ctx context.Context, t *testing.T, c *testcluster.Cluster, adm *kadm.Client) {
	t.Helper()
	const topic, group = "group-src", "moving-group"
	createTopic(t, c.Addrs(), topic, 2, 2)
	produceN(t, newClient(t, c.Addrs()), topic, "g", 1500)
	cl := newClient(t, c.Addrs(), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	m := &committer{committed: map[int32]int64{}}
	cctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); m.run(cctx, cl) }()
	defer func() { stop(); <-done }()
	testutil.Eventually(t, 60*time.Second, func() error {
		if _, n := m.state(); n < 3 {
			return fmt.Errorf("%d commits so far", n)
		}
		return nil
	})

	node := c.Brokers[0].Node
	shard, ok := node.GroupShardFor(group)
	if !ok {
		t.Fatal("no group shard for the group")
	}
	var idx int32 = -1
	var replicas []uint64
	for i, p := range node.Meta().GroupShards {
		if p.ShardID == shard {
			idx, replicas = int32(i), p.Replicas
		}
	}
	leader, _, ok := node.Leader(shard)
	if !ok || idx < 0 {
		t.Fatalf("group shard %d (partition %d of __consumer_offsets) has no leader", shard, idx)
	}
	spare := spareBroker(replicas, 4)
	target := []int32{spare}
	for _, r := range replicas {
		if r != leader {
			target = append(target, int32(r))
		}
	}
	_, before := m.state()
	start := time.Now()
	moveAndWait(ctx, t, adm, "__consumer_offsets", idx, target)
	_, during := m.state()
	t.Logf("group shard %d (__consumer_offsets/%d) moved from %v to %v, off its leader %d, in %v; %d commits meanwhile",
		shard, idx, replicas, target, leader, time.Since(start).Round(time.Millisecond), during-before)

	// Every broker names the shard's new leader as the coordinator, and
	// the broker it left drops its replica.
	testutil.Eventually(t, 30*time.Second, func() error {
		now, _, ok := c.Brokers[spare-1].Node.Leader(shard)
		if !ok || !slices.Contains(target, int32(now)) {
			return fmt.Errorf("shard %d leader %d (known %v), want one of %v", shard, now, ok, target)
		}
		for i := range c.Brokers {
			one := newClient(t, []string{c.Addrs()[i]})
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.CoordinatorKey = group
			resp, err := req.RequestWith(ctx, one)
			if err != nil {
				return err
			}
			if resp.ErrorCode != 0 || resp.NodeID != int32(now) {
				return fmt.Errorf("broker %d: FindCoordinator(%s) = node %d (error %d), want %d", i+1, group, resp.NodeID, resp.ErrorCode, now)
			}
		}
		if _, still := c.Brokers[leader-1].Node.GroupStateMachine(shard); still {
			return fmt.Errorf("broker %d still hosts group shard %d", leader, shard)
		}
		return nil
	})

	// The group carries on: more records, consumed and committed to the end.
	produceN(t, newClient(t, c.Addrs()), topic, "h", 200)
	ends := endOffsets(ctx, t, c.Addrs(), topic)
	testutil.Eventually(t, 60*time.Second, func() error {
		got, _ := m.state()
		for p, end := range ends {
			if got[p] != end {
				return fmt.Errorf("partition %d committed %d of %d", p, got[p], end)
			}
		}
		return nil
	})
	stop()
	<-done
	mine, n := m.state()
	m.mu.Lock()
	t.Logf("consumer: %d commits, %d failed (last: %v)", n, m.failed, m.lastErr)
	m.mu.Unlock()
	if got := committedOffsets(t, c.Addrs(), group); sortedParts(got) != sortedParts(mine) {
		t.Errorf("committed offsets %s, want the consumer's last commits %s", sortedParts(got), sortedParts(mine))
	}
}
