package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/testcluster"
)

// groupLeader returns the index of the broker leading a group shard,
// waiting for one.
func groupLeader(t *testing.T, c *testcluster.Cluster, shard uint64) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for i, b := range c.Brokers {
			if _, ok := b.Node.IsLeader(shard); ok {
				return i
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("group shard %d has no leader", shard)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// moveGroupLeader transfers a group shard's leadership from broker from
// to broker to and waits until to leads.
func moveGroupLeader(t *testing.T, c *testcluster.Cluster, shard uint64, from, to int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := c.Brokers[from].Node.TransferLeadership(shard, c.Configs[to].NodeID); err != nil {
			t.Logf("leader transfer: %v", err)
		}
		for wait := time.Now().Add(2 * time.Second); time.Now().Before(wait); time.Sleep(20 * time.Millisecond) {
			if _, ok := c.Brokers[to].Node.IsLeader(shard); ok {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("group shard %d: leadership did not move to broker %d", shard, to+1)
		}
	}
}

// rejoin sends the JoinGroup of a known member until it is answered.
func rejoin(ctx context.Context, t *testing.T, cl *kgo.Client, group, memberID string) *kmsg.JoinGroupResponse {
	t.Helper()
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{"t"}
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.ProtocolType = group, memberID, "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 60000, 60000
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", meta.AppendTo(nil)
	req.Protocols = append(req.Protocols, p)
	for {
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("rejoin: %v", err)
		}
		switch resp.ErrorCode {
		case 0:
			return resp
		case kerr.CoordinatorLoadInProgress.Code, kerr.NotCoordinator.Code, kerr.RebalanceInProgress.Code:
			time.Sleep(50 * time.Millisecond)
		default:
			t.Fatalf("rejoin: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
	}
}

// syncAlone syncs a member alone in its generation, assigning itself.
func syncAlone(ctx context.Context, t *testing.T, cl *kgo.Client, group string, join *kmsg.JoinGroupResponse) {
	t.Helper()
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.Generation, sync.MemberID = group, join.Generation, join.MemberID
	a := kmsg.NewSyncGroupRequestGroupAssignment()
	a.MemberID = join.MemberID
	sync.GroupAssignment = append(sync.GroupAssignment, a)
	if resp, err := sync.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("sync group: %v %v", err, resp)
	}
}

func commitRequest(group, member string, generation int32, topic string, offset int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.MemberID, req.Generation = group, member, generation
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Offset = offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func fetchCommitted(ctx context.Context, cl *kgo.Client, group, topic string) (int64, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{0}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return 0, err
	}
	p := resp.Topics[0].Partitions[0]
	return p.Offset, kerr.ErrorForCode(p.ErrorCode)
}

// TestGroupLeadershipMovesAwayAndBack moves a group shard's leadership
// A -> B -> A while a member commits ever larger offsets and a reader
// fetches them. B rebalances the group to a new generation; back on A, a
// commit of the old generation must be refused (ILLEGAL_GENERATION), and
// no fetch may ever see the committed offset go back.
func TestGroupLeadershipMovesAwayAndBack(t *testing.T) {
	t.Parallel() // every wait in it is for a condition, with room for a loaded machine
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) {
		cfg.LeaderBalanceInterval = time.Hour // the test places the leader itself
	}})
	const group, topic = "g-moves", "moves"
	createTopic(t, c.Addrs(), topic, 1, 3)
	cl := newClient(t, c.Addrs())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	shard, ok := c.Brokers[0].Node.GroupShardFor(group)
	if !ok {
		t.Fatal("no group shards")
	}
	a := groupLeader(t, c, shard)
	b := (a + 1) % len(c.Brokers)

	first := joinGroup(ctx, t, cl, group, 60000, 60000)
	syncAlone(ctx, t, cl, group, first)

	var (
		mu         sync.Mutex
		generation = first.Generation
		accepted   int64 // highest offset a commit was acknowledged for
		problems   []string
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // the member commits 1, 2, 3, ... in its current generation
		defer wg.Done()
		for offset := int64(1); offset < 100000; offset++ {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			gen := generation
			mu.Unlock()
			resp, err := commitRequest(group, first.MemberID, gen, topic, offset).RequestWith(ctx, cl)
			if err != nil {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			if resp.Topics[0].Partitions[0].ErrorCode == 0 {
				mu.Lock()
				accepted = offset
				mu.Unlock()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	go func() { // a reader checks the committed offset never goes back
		defer wg.Done()
		var last int64 = -1
		for {
			select {
			case <-stop:
				return
			default:
			}
			got, err := fetchCommitted(ctx, cl, group, topic)
			if err == nil {
				if got < last {
					mu.Lock()
					problems = append(problems, fmt.Sprintf("committed offset went back from %d to %d", last, got))
					mu.Unlock()
				}
				last = max(last, got)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	waitAccepted := func(beyond int64) int64 {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			mu.Lock()
			got := accepted
			mu.Unlock()
			if got >= beyond+20 {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("commits stalled at offset %d", got)
			}
		}
	}
	waitAccepted(0)

	moveGroupLeader(t, c, shard, a, b)
	// On B the member rejoins: a new generation, which fences the first.
	second := rejoin(ctx, t, cl, group, first.MemberID)
	if second.Generation <= first.Generation {
		t.Fatalf("rejoin on the new coordinator: generation %d after %d", second.Generation, first.Generation)
	}
	syncAlone(ctx, t, cl, group, second)
	mu.Lock()
	generation = second.Generation
	before := accepted
	mu.Unlock()
	waitAccepted(before)

	moveGroupLeader(t, c, shard, b, a)
	// The old generation's commit, sent straight to A (it leads again).
	stale := commitRequest(group, first.MemberID, first.Generation, topic, 0)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := stale.RequestWith(ctx, cl.Broker(int(c.Configs[a].NodeID)))
		if err != nil {
			t.Fatalf("stale commit: %v", err)
		}
		code := resp.Topics[0].Partitions[0].ErrorCode
		if code == kerr.IllegalGeneration.Code {
			break
		}
		if code != kerr.NotCoordinator.Code && code != kerr.CoordinatorLoadInProgress.Code || time.Now().After(deadline) {
			t.Fatalf("commit of fenced generation %d on the returning leader: %v, want ILLEGAL_GENERATION", first.Generation, kerr.ErrorForCode(code))
		}
	}
	mu.Lock()
	before = accepted
	mu.Unlock()
	last := waitAccepted(before)
	close(stop)
	wg.Wait()

	got, err := fetchCommitted(ctx, cl, group, topic)
	if err != nil {
		t.Fatal(err)
	}
	if got < last {
		t.Fatalf("committed offset %d, but a commit of %d was acknowledged", got, last)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// TestGroupStaticRollingRestart restarts three static members (franz-go
// with InstanceID) one by one: each gets its assignment back, and the
// group never rebalances (its generation stays the same).
func TestGroupStaticRollingRestart(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{Nodes: 3})
	const group, topic = "g-static", "static"
	seeds := c.Addrs()
	createTopic(t, seeds, topic, 6, 3)
	start := func(i int) *kgo.Client {
		return newClient(t, seeds, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.InstanceID(fmt.Sprintf("instance-%d", i)),
			kgo.Balancers(kgo.RangeBalancer()), kgo.SessionTimeout(30*time.Second))
	}
	members := make([]*kgo.Client, 3)
	for i := range members {
		members[i] = start(i)
		go pollUntilClosed(members[i])
	}
	before := waitGroup(t, seeds, group, 3, 60*time.Second)
	generation := stableGeneration(t, members)

	for i := range members {
		members[i].Close()
		members[i] = start(i)
		go pollUntilClosed(members[i])
		if got := stableGeneration(t, members); got != generation {
			t.Fatalf("restart of member %d: generation %d, was %d (the group rebalanced)", i, got, generation)
		}
	}
	time.Sleep(3 * time.Second) // a rebalance the last restart set off would show by now
	if got := stableGeneration(t, members); got != generation {
		t.Fatalf("after the restarts: generation %d, was %d (the group rebalanced)", got, generation)
	}
	after := waitGroup(t, seeds, group, 3, 30*time.Second)
	if len(after) != len(before) {
		t.Fatalf("members after the restarts %v, before %v", after, before)
	}
}

// pollUntilClosed drives a consumer's group membership.
func pollUntilClosed(cl *kgo.Client) {
	for {
		if fs := cl.PollFetches(context.Background()); fs.IsClientClosed() {
			return
		}
	}
}

// stableGeneration waits until every member reports the same generation
// and returns it.
func stableGeneration(t *testing.T, members []*kgo.Client) int32 {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		gens := map[int32]int{}
		var gen int32
		for _, m := range members {
			_, gen = m.GroupMetadata()
			gens[gen]++
		}
		if len(gens) == 1 && gen > 0 {
			return gen
		}
		if time.Now().After(deadline) {
			t.Fatalf("members do not agree on a generation: %v", gens)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestGroupLimitsOnListener: the group limits and id checks answer with
// Kafka's error codes over a real listener.
func TestGroupLimitsOnListener(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) {
		cfg.GroupMaxSize = 1
	}})
	cl := newClient(t, c.Addrs())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const group = "g-limits"

	first := joinGroup(ctx, t, cl, group, 30000, 30000)
	syncAlone(ctx, t, cl, group, first)
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.ProtocolType = group, "consumer"
	join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 30000, 30000
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name = "range"
	join.Protocols = append(join.Protocols, p)
	if resp, err := join.RequestWith(ctx, cl); err != nil || resp.ErrorCode != kerr.GroupMaxSizeReached.Code {
		t.Fatalf("join past group.max.size: %v %v, want GROUP_MAX_SIZE_REACHED", err, resp)
	}

	commit := commitRequest(group, first.MemberID, first.Generation, "t", 7)
	small, large := "fits", strings.Repeat("x", 4097)
	commit.Topics[0].Partitions[0].Metadata = &small
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.Metadata = 1, 9, &large
	commit.Topics[0].Partitions = append(commit.Topics[0].Partitions, rp)
	resp, err := commit.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Topics[0].Partitions; got[0].ErrorCode != 0 || got[1].ErrorCode != kerr.OffsetMetadataTooLarge.Code {
		t.Fatalf("commit codes %d, %d; want 0 and OFFSET_METADATA_TOO_LARGE", got[0].ErrorCode, got[1].ErrorCode)
	}
	if got, err := fetchCommitted(ctx, cl, group, "t"); err != nil || got != 7 {
		t.Fatalf("committed %d (%v), want 7", got, err)
	}

	// Empty group ids, sent to every broker (no broker coordinates them).
	for _, cfg := range c.Configs {
		b := cl.Broker(int(cfg.NodeID))
		join.Group = ""
		for name, req := range map[string]kmsg.Request{"join": join, "heartbeat": kmsg.NewPtrHeartbeatRequest(),
			"sync": kmsg.NewPtrSyncGroupRequest(), "leave": kmsg.NewPtrLeaveGroupRequest()} {
			resp, err := b.Request(ctx, req)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var code int16
			switch r := resp.(type) {
			case *kmsg.JoinGroupResponse:
				code = r.ErrorCode
			case *kmsg.HeartbeatResponse:
				code = r.ErrorCode
			case *kmsg.SyncGroupResponse:
				code = r.ErrorCode
			case *kmsg.LeaveGroupResponse:
				code = r.ErrorCode
			}
			if code != kerr.InvalidGroupID.Code {
				t.Fatalf("%s with an empty group id on broker %d: %v, want INVALID_GROUP_ID", name, cfg.NodeID, kerr.ErrorForCode(code))
			}
		}
	}
}
