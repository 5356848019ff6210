package integration

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// groupConsumer is one franz-go group member recording what it consumed.
type groupConsumer struct {
	cl   *kgo.Client
	mu   sync.Mutex
	seen []record
	stop chan struct{}
	done chan struct{}
}

func startGroupConsumer(t *testing.T, seeds []string, groupID, topic string, opts ...kgo.Opt) *groupConsumer {
	t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ConsumerGroup(groupID), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AutoCommitInterval(200 * time.Millisecond),
		kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(500 * time.Millisecond)}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	gc := &groupConsumer{cl: cl, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(gc.done)
		for {
			select {
			case <-gc.stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			fs := cl.PollFetches(ctx)
			cancel()
			fs.EachRecord(func(r *kgo.Record) {
				gc.mu.Lock()
				gc.seen = append(gc.seen, record{r.Partition, r.Offset, string(r.Value)})
				gc.mu.Unlock()
			})
		}
	}()
	return gc
}

// close stops polling and leaves the group (committing what was consumed).
func (gc *groupConsumer) close() {
	close(gc.stop)
	<-gc.done
	gc.cl.Close()
}

func (gc *groupConsumer) records() []record {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	return append([]record(nil), gc.seen...)
}

// waitSeen waits up to within until the group consumer has read every
// record of acked (by value).
func (gc *groupConsumer) waitSeen(t *testing.T, acked []record, within time.Duration) {
	t.Helper()
	testutil.Eventually(t, within, func() error {
		seen := map[string]bool{}
		for _, r := range gc.records() {
			seen[r.value] = true
		}
		n := 0
		for _, r := range acked {
			if seen[r.value] {
				n++
			}
		}
		return atLeast("acknowledged records seen by the group consumer", n, len(acked))
	})
}

func describeMembers(t *testing.T, seeds []string, groupID string) (string, map[string]int) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, seeds))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	groups, err := adm.DescribeGroups(ctx, groupID)
	if err != nil {
		t.Fatal(err)
	}
	g := groups[groupID]
	if errors.Is(g.Err, kerr.GroupIDNotFound) {
		return "Dead", nil // not created yet: DescribeGroups v6+ says so (KIP-1043)
	}
	if g.Err != nil {
		t.Fatalf("describe %s: %v", groupID, g.Err)
	}
	out := map[string]int{}
	for _, m := range g.Members {
		n := 0
		if ca, ok := m.Assigned.AsConsumer(); ok {
			for _, tp := range ca.Topics {
				n += len(tp.Partitions)
			}
		}
		out[m.MemberID] = n
	}
	return g.State, out
}

func waitGroup(t *testing.T, seeds []string, groupID string, members int, within time.Duration) map[string]int {
	t.Helper()
	var assigned map[string]int
	testutil.Eventually(t, within, func() error {
		var state string
		state, assigned = describeMembers(t, seeds, groupID)
		if state != "Stable" || len(assigned) != members {
			return fmt.Errorf("group %s: state %s with %d members, want Stable with %d", groupID, state, len(assigned), members)
		}
		return nil
	})
	return assigned
}

// TestFranzGroupSharesAndRebalances: three members share six partitions two
// each and consume everything once; one leaves and the other two take over
// its partitions.
func TestFranzGroupSharesAndRebalances(t *testing.T) {
	c := sharedCluster(t)
	seeds := c.Addrs()
	createTopic(t, seeds, "grouped", 6, 3)
	produced := produceN(t, newClient(t, seeds), "grouped", "a", 3000)

	var members []*groupConsumer
	for i := 0; i < 3; i++ {
		members = append(members, startGroupConsumer(t, seeds, "g-share", "grouped"))
	}
	assigned := waitGroup(t, seeds, "g-share", 3, 30*time.Second)
	for id, n := range assigned {
		if n != 2 {
			t.Fatalf("member %s has %d partitions, want 2: %v", id, n, assigned)
		}
	}
	waitConsumed(t, members, len(produced))

	members[2].close()
	assigned = waitGroup(t, seeds, "g-share", 2, 30*time.Second)
	for id, n := range assigned {
		if n != 3 {
			t.Fatalf("after a member left, %s has %d partitions, want 3: %v", id, n, assigned)
		}
	}
	more := produceN(t, newClient(t, seeds), "grouped", "b", 600)
	waitConsumedValues(t, members[:2], more)
	for _, m := range members[:2] {
		m.close()
	}
	var all []record
	for _, m := range members {
		checkMonotonic(t, m.records())
		all = append(all, m.records()...)
	}
	// Members may redeliver what another consumed but had not committed
	// when its partition moved; every position must hold one value.
	unique, redelivered := dedupeByPosition(t, all)
	checkSameRecords(t, append(produced, more...), unique)
	t.Logf("consumed %d records, %d redelivered after rebalances", len(unique), redelivered)
}

// checkMonotonic asserts that one consumer saw each partition's offsets
// increase, except where a rebalance handed the partition back to it.
func checkMonotonic(t *testing.T, rs []record) {
	t.Helper()
	last := map[int32]int64{}
	for _, r := range rs {
		if prev, ok := last[r.partition]; ok && r.offset == prev {
			t.Fatalf("partition %d: offset %d delivered twice in a row to one member", r.partition, r.offset)
		}
		last[r.partition] = r.offset
	}
}

func waitConsumed(t *testing.T, members []*groupConsumer, n int) {
	t.Helper()
	testutil.Eventually(t, 60*time.Second, func() error {
		return atLeast("distinct values consumed by the group", len(seenValues(members)), n)
	})
}

// seenValues is the set of values the members have consumed.
func seenValues(members []*groupConsumer) map[string]bool {
	seen := map[string]bool{}
	for _, m := range members {
		for _, r := range m.records() {
			seen[r.value] = true
		}
	}
	return seen
}

func waitConsumedValues(t *testing.T, members []*groupConsumer, want []record) {
	t.Helper()
	var sources []func() []record
	for _, m := range members {
		sources = append(sources, m.records)
	}
	seenAll(t, sources, want)
}

// committedOffsets fetches a group's committed offsets per partition. Each
// attempt uses a fresh client with a short deadline: right after a
// coordinator dies, brokers may still name it until the election ends.
func committedOffsets(t *testing.T, seeds []string, groupID string) map[int32]int64 {
	t.Helper()
	out := map[int32]int64{}
	testutil.Eventually(t, 30*time.Second, func() error {
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		resp, err := kadm.NewClient(cl).FetchOffsets(ctx, groupID)
		cancel()
		cl.Close()
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return fmt.Errorf("fetch offsets of %s: %w", groupID, err)
		}
		resp.Each(func(o kadm.OffsetResponse) { out[o.Partition] = o.At })
		return nil
	})
	return out
}

func sortedParts(m map[int32]int64) string {
	var ps []int
	for p := range m {
		ps = append(ps, int(p))
	}
	sort.Ints(ps)
	s := ""
	for _, p := range ps {
		s += fmt.Sprintf("%d:%d ", p, m[int32(p)])
	}
	return s
}

// coordinatorOf asks the cluster which broker coordinates a group.
func coordinatorOf(t *testing.T, seeds []string, groupID string) int32 {
	t.Helper()
	adm := kadm.NewClient(newClient(t, seeds))
	var coordinator int32
	testutil.Eventually(t, 10*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp := adm.FindGroupCoordinators(ctx, groupID)
		c, ok := resp[groupID]
		if !ok || c.Err != nil {
			return fmt.Errorf("find coordinator of %s: %v", groupID, resp)
		}
		coordinator = c.NodeID
		return nil
	})
	return coordinator
}

// TestGroupCoordinatorKilled SIGKILLs the broker process coordinating a
// group while two members consume a topic that keeps growing: the group
// must resume from its committed offsets on the new coordinator, skip no
// record, and every record must be consumed (redeliveries of uncommitted
// records are counted, not failures).
func TestGroupCoordinatorKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs broker processes")
	}
	t.Parallel()
	pc := startProcCluster(t, 3)
	createTopic(t, pc.kafka, "coord", 6, 3)
	prod := newClient(t, pc.kafka, kgo.RecordRetries(1000), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	var mu sync.Mutex
	var acked []record
	stopProd := make(chan struct{})
	prodDone := make(chan struct{})
	go func() {
		defer close(prodDone)
		for i := 0; ; i++ {
			select {
			case <-stopProd:
				return
			case <-time.After(2 * time.Millisecond):
			}
			prod.Produce(context.Background(), &kgo.Record{Topic: "coord", Value: []byte(fmt.Sprintf("c-%d", i))}, func(r *kgo.Record, err error) {
				if err == nil {
					mu.Lock()
					acked = append(acked, record{r.Partition, r.Offset, string(r.Value)})
					mu.Unlock()
				}
			})
		}
	}()
	members := []*groupConsumer{
		startGroupConsumer(t, pc.kafka, "g-coord", "coord"),
		startGroupConsumer(t, pc.kafka, "g-coord", "coord"),
	}
	waitGroup(t, pc.kafka, "g-coord", 2, 30*time.Second)
	consumedCount := func() int {
		n := 0
		for _, m := range members {
			n += len(m.records())
		}
		return n
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		return atLeast("records consumed before the kill", consumedCount(), 1000)
	})
	coord := coordinatorOf(t, pc.kafka, "g-coord")
	before := committedOffsets(t, pc.kafka, "g-coord")
	t.Logf("SIGKILL coordinator broker %d; committed before: %s", coord, sortedParts(before))
	killedAt := time.Now()
	pc.kill(int(coord - 1))
	var live []string
	for i, a := range pc.kafka {
		if i != int(coord-1) {
			live = append(live, a)
		}
	}
	// Resumed: a new coordinator accepts commits (the committed offsets move
	// past where they were at the kill) and a record produced after the
	// kill has been consumed.
	mu.Lock()
	mark := len(acked)
	mu.Unlock()
	testutil.Eventually(t, 60*time.Second, func() error {
		mu.Lock()
		after := append([]record(nil), acked[mark:]...)
		mu.Unlock()
		seen := seenValues(members)
		consumedNew := false
		for _, r := range after {
			if seen[r.value] {
				consumedNew = true
				break
			}
		}
		committedNew := false
		if consumedNew {
			for p, off := range committedOffsets(t, live, "g-coord") {
				if off > before[p] {
					committedNew = true
				}
			}
		}
		if !committedNew {
			return fmt.Errorf("group has not resumed (consumed a record produced after the kill: %v; committed past the offsets at the kill: %v)", consumedNew, committedNew)
		}
		return nil
	})
	resumed := time.Since(killedAt)
	newCoord := coordinatorOf(t, live, "g-coord")
	if newCoord == coord {
		t.Fatalf("the killed broker %d is still named coordinator", coord)
	}
	t.Logf("group resumed %v after the kill; new coordinator broker %d", resumed.Round(time.Millisecond), newCoord)
	pc.start(int(coord - 1))
	pc.waitReady(60 * time.Second)
	close(stopProd)
	<-prodDone
	if err := prod.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	all := append([]record(nil), acked...)
	mu.Unlock()
	waitConsumedValues(t, members, all)
	committed := committedOffsets(t, pc.kafka, "g-coord")
	for p, off := range before {
		if committed[p] < off {
			t.Fatalf("partition %d: committed offset went back from %d to %d", p, off, committed[p])
		}
	}
	var streams [][]record
	consumed := 0
	for _, m := range members {
		m.close()
		streams = append(streams, m.records())
		consumed += len(streams[len(streams)-1])
	}
	dups := checkRecords(t, all, streams...)
	t.Logf("%d records produced, %d consumed, %d redelivered (uncommitted at the kill); resume took %v",
		len(all), consumed, dups, resumed.Round(time.Millisecond))
}

// TestGroupOffsetsSurviveFullRestart commits a group's offsets, restarts
// every broker, and checks that the offsets are unchanged and that a new
// member resumes exactly at them.
func TestGroupOffsetsSurviveFullRestart(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) {
		// Every broker is stopped: the later ones' leadership hand-off
		// has no live target and would wait out half of this (5 s of the
		// default 10 s). What is tested is the restart, not the hand-off.
		cfg.ShutdownTimeout = time.Second
	}})
	seeds := c.Addrs()
	createTopic(t, seeds, "restart-group", 3, 3)
	first := produceN(t, newClient(t, seeds), "restart-group", "r", 900)
	m := startGroupConsumer(t, seeds, "g-restart", "restart-group")
	waitConsumedValues(t, []*groupConsumer{m}, first)
	m.close() // commits on leave
	before := committedOffsets(t, seeds, "g-restart")
	total := int64(0)
	for _, off := range before {
		total += off
	}
	if total != 900 {
		t.Fatalf("committed offsets %s sum to %d, want 900", sortedParts(before), total)
	}
	for i := range c.Brokers {
		c.StopBroker(i)
	}
	for i := range c.Brokers {
		c.StartBroker(i)
	}
	c.WaitReady(60 * time.Second)
	after := committedOffsets(t, seeds, "g-restart")
	if sortedParts(after) != sortedParts(before) {
		t.Fatalf("offsets after restart %s, before %s", sortedParts(after), sortedParts(before))
	}
	second := produceN(t, newClient(t, seeds), "restart-group", "s", 300)
	m2 := startGroupConsumer(t, seeds, "g-restart", "restart-group")
	waitConsumedValues(t, []*groupConsumer{m2}, second)
	m2.close()
	for _, r := range m2.records() {
		if r.value[0] == 'r' {
			t.Fatalf("record %q (before the commit) consumed again after the restart", r.value)
		}
	}
	if got := len(m2.records()); got != len(second) {
		t.Fatalf("resumed member consumed %d records, want exactly the %d new ones", got, len(second))
	}
}
