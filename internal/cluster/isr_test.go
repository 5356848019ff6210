package cluster

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4/raftio"
	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/meta"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const lagMax = 30 * time.Second

// TestShardSyncKafkaRule: a follower is in sync when it has held the
// leader's log end at some point within the lag time: either everything the
// leader has now, or everything it had at the previous poll.
func TestShardSyncKafkaRule(t *testing.T) {
	s := newShardSync(1, []uint64{1, 2, 3}, 1, t0)
	if s.inSync(1, t0, lagMax, false) {
		t.Error("the leader itself is tracked as a follower")
	}
	// A new leader's followers have the lag time to show they caught up,
	// but are not proven until they do.
	for _, f := range []uint64{2, 3} {
		if !s.inSync(f, t0.Add(lagMax), lagMax, false) || s.inSync(f, t0, lagMax, true) {
			t.Errorf("follower %d: in grace %v, proven %v; want in grace, not proven", f, s.inSync(f, t0.Add(lagMax), lagMax, false), s.inSync(f, t0, lagMax, true))
		}
	}
	if s.inSync(2, t0.Add(lagMax+time.Millisecond), lagMax, false) {
		t.Error("follower never seen is still in sync past the grace")
	}

	// Poll 1 at t0+1s, leader at 100: follower 2 has it all, 3 is behind.
	at1 := t0.Add(time.Second)
	s.observe(2, 100, 100, at1)
	s.observe(3, 40, 100, at1)
	s.prevHW, s.prevAt = 100, at1
	if !s.inSync(2, at1, lagMax, true) {
		t.Error("follower holding the leader's high watermark not proven in sync")
	}
	if s.inSync(3, at1, lagMax, true) {
		t.Error("follower behind on its first poll proven in sync")
	}

	// Poll 2 at t0+2s, leader appended to 150: follower 3 reached the
	// previous log end (100) though not the current one, so it was caught
	// up at t0+1s.
	at2 := t0.Add(2 * time.Second)
	s.observe(3, 120, 150, at2)
	s.prevHW, s.prevAt = 150, at2
	if !s.inSync(3, at2, lagMax, true) {
		t.Error("follower that reached the previous poll's log end is not in sync")
	}
	if !s.inSync(3, at1.Add(lagMax), lagMax, true) || s.inSync(3, at1.Add(lagMax+time.Millisecond), lagMax, true) {
		t.Error("follower 3's caught-up time is not the previous poll's")
	}

	// Follower 2 falls behind under steady load and never reaches even the
	// previous log end: out once the lag time has passed since t0+1s.
	for i := 3; i <= 40; i++ {
		at := t0.Add(time.Duration(i) * time.Second)
		leaderHW := int64(100 + 50*i)
		s.observe(2, leaderHW-200, leaderHW, at)
		s.prevHW, s.prevAt = leaderHW, at
		want := at.Sub(at1) <= lagMax
		if got := s.inSync(2, at, lagMax, false); got != want {
			t.Fatalf("at +%ds: follower 2 in sync = %v, want %v", i, got, want)
		}
	}
	// An older observation never moves the caught-up time back.
	s.observe(3, 1000, 1000, t0)
	if !s.inSync(3, at1.Add(lagMax), lagMax, true) {
		t.Error("an older observation moved the caught-up time back")
	}
}

// TestShardSyncIdle: an idle partition whose replicas all report the same
// high watermark stays in sync however long it idles.
func TestShardSyncIdle(t *testing.T) {
	s := newShardSync(7, []uint64{1, 2, 3}, 2, t0)
	for i := 1; i <= 100; i++ {
		at := t0.Add(time.Duration(i) * time.Second)
		s.observe(1, 500, 500, at)
		s.observe(3, 500, 500, at)
		s.prevHW, s.prevAt = 500, at
		if !s.inSync(1, at, lagMax, true) || !s.inSync(3, at, lagMax, true) {
			t.Fatalf("idle follower out of sync at +%ds", i)
		}
	}
}

// TestTrackerISR: the ISR of a partition led here drops a follower out of
// sync and, at once, one on a broker that stopped answering; other
// brokers answer with the leader's fresh report, else every replica.
func TestTrackerISR(t *testing.T) {
	now := t0
	tr := newISRTracker(1, lagMax, nil, nil, nil, peerHTTP{}, zerolog.Nop())
	tr.now = func() time.Time { return now }
	replicas := []uint64{1, 2, 3}
	if got := tr.isr(10, 1, replicas); !slices.Equal(got, replicas) {
		t.Errorf("untracked partition: ISR %v, want every replica", got)
	}
	tr.led[10] = newShardSync(4, replicas, 1, now)
	tr.led[10].observe(2, 5, 5, now)
	tr.led[10].observe(3, 5, 5, now)
	if got := tr.isr(10, 1, replicas); !slices.Equal(got, replicas) {
		t.Errorf("all caught up: ISR %v", got)
	}
	tr.failures[3] = isrFenceAfter - 1
	if got := tr.isr(10, 1, replicas); !slices.Equal(got, replicas) {
		t.Errorf("one missed poll: ISR %v, want every replica", got)
	}
	tr.failures[3] = isrFenceAfter
	if got := tr.isr(10, 1, replicas); !slices.Equal(got, []uint64{1, 2}) {
		t.Errorf("broker 3 not answering: ISR %v, want [1 2]", got)
	}
	if !tr.underReplicated(10, replicas) || tr.canTakeOver(10, 3, false) || !tr.canTakeOver(10, 2, true) {
		t.Error("fenced follower: want under-replicated, 3 refused and 2 accepted as new leader")
	}
	tr.failures[3] = 0
	now = now.Add(lagMax + time.Second)
	tr.led[10].observe(2, 9, 9, now)
	if got := tr.isr(10, 1, replicas); !slices.Equal(got, []uint64{1, 2}) {
		t.Errorf("broker 3 answering but not caught up for the lag time: ISR %v, want [1 2]", got)
	}
	if !tr.canTakeOver(99, 3, false) || tr.canTakeOver(99, 3, true) {
		t.Error("untracked partition: a graceful stop may hand it to anyone, the balancer to no one")
	}

	// Broker 1 answering for a partition broker 2 leads.
	if got := tr.isr(20, 2, replicas); !slices.Equal(got, replicas) {
		t.Errorf("no report from the leader: ISR %v, want every replica", got)
	}
	tr.reports[2] = isrReport{at: now, isr: map[uint64][]uint64{20: {2, 1}}}
	if got := tr.isr(20, 2, replicas); !slices.Equal(got, []uint64{2, 1}) {
		t.Errorf("leader reported [2 1]: ISR %v", got)
	}
	if got := tr.isr(21, 2, replicas); !slices.Equal(got, replicas) {
		t.Errorf("partition absent from the leader's report: ISR %v, want every replica", got)
	}
	if got := tr.isr(20, 3, replicas); !slices.Equal(got, replicas) {
		t.Errorf("report from a broker that no longer leads used: ISR %v", got)
	}
	now = now.Add(isrReportTTL + time.Millisecond)
	if got := tr.isr(20, 2, replicas); !slices.Equal(got, replicas) {
		t.Errorf("stale report used: ISR %v, want every replica", got)
	}
}

type fixedState struct{ st *meta.State }

func (f fixedState) State() *meta.State { return f.st }

// leadsAll: this broker leads every shard.
type leadsAll struct{}

func (leadsAll) isLeader(uint64) (uint64, bool) { return 1, true }

// transfers records the leadership transfers asked for.
type transfers map[uint64]uint64

func (tr transfers) RequestLeaderTransfer(shard, target uint64) error {
	tr[shard] = target
	return nil
}

// everyoneAnswers: every peer's health check answers 200.
type everyoneAnswers struct{}

func (everyoneAnswers) answers(context.Context, *meta.Broker, string) bool { return true }

// TestBalancerMovesOnlyToInSync: the periodic balancing pass hands a
// partition to its preferred replica only once its leader has seen that
// replica caught up; group shards (not tracked) and brand-new partitions
// (every replica empty) move on the health check alone.
func TestBalancerMovesOnlyToInSync(t *testing.T) {
	now := t0
	st := &meta.State{
		Brokers: map[uint64]*meta.Broker{1: {ID: 1}, 2: {ID: 2}, 3: {ID: 3}},
		Topics: map[string]*meta.Topic{"t": {Name: "t", Partitions: []meta.Partition{
			{Index: 0, ShardID: 10, Replicas: []uint64{3, 1, 2}},
			{Index: 1, ShardID: 11, Replicas: []uint64{2, 1, 3}},
		}}},
		GroupShards: []meta.Partition{{ShardID: 50, Replicas: []uint64{3, 1, 2}}},
	}
	tr := newISRTracker(1, lagMax, fixedState{st}, leadsAll{}, nil, peerHTTP{}, zerolog.Nop())
	tr.now = func() time.Time { return now }
	tr.led[10] = newShardSync(1, []uint64{3, 1, 2}, 1, now)
	tr.led[11] = newShardSync(1, []uint64{2, 1, 3}, 1, now)
	tr.led[10].observe(3, 40, 100, now) // behind
	tr.led[11].observe(2, 100, 100, now)
	moved := transfers{}
	b := &balancer{self: 1, meta: fixedState{st}, leaders: leadsAll{}, nh: moved, peers: everyoneAnswers{}, inSync: tr, log: zerolog.Nop()}

	b.balanceLeaders(context.Background(), nil, "/readyz")
	if want := (transfers{11: 2, 50: 3}); !maps.Equal(moved, want) {
		t.Fatalf("transfers %v, want %v: shard 10's preferred replica is behind", moved, want)
	}
	b.balanceLeaders(context.Background(), map[uint64]bool{10: true}, "/livez")
	if moved[10] != 3 {
		t.Fatalf("a new partition's first leadership was not handed to its preferred replica: %v", moved)
	}
	delete(moved, 10)

	now = now.Add(time.Second)
	tr.led[10].observe(3, 100, 100, now)
	b.balanceLeaders(context.Background(), nil, "/readyz")
	if moved[10] != 3 {
		t.Fatalf("preferred replica caught up, yet shard 10 not moved: %v", moved)
	}
}

// TestHandOffTarget: a graceful stop hands a partition to a replica seen in
// sync before one still in its grace, never to one out of sync or on a
// broker that stopped answering; __meta to the first other replica whose
// broker answers.
func TestHandOffTarget(t *testing.T) {
	now := t0
	tr := newISRTracker(1, lagMax, nil, nil, nil, peerHTTP{}, zerolog.Nop())
	tr.now = func() time.Time { return now }
	b := &balancer{self: 1, inSync: tr}
	replicas := []uint64{1, 3, 2}
	tr.led[10] = newShardSync(1, replicas, 1, now)
	if r, ok := b.handOffTarget(10, replicas, true); !ok || r != 3 {
		t.Errorf("both followers in grace: target %d %v, want 3", r, ok)
	}
	tr.led[10].observe(2, 5, 5, now)
	if r, ok := b.handOffTarget(10, replicas, true); !ok || r != 2 {
		t.Errorf("2 seen in sync, 3 in grace: target %d %v, want 2", r, ok)
	}
	now = now.Add(lagMax + time.Second)
	if r, ok := b.handOffTarget(10, replicas, true); ok {
		t.Errorf("both followers out of sync: target %d, want none", r)
	}
	tr.led[10].observe(3, 5, 5, now)
	tr.failures[3] = isrFenceAfter
	if r, ok := b.handOffTarget(10, replicas, true); ok {
		t.Errorf("3 caught up but its broker stopped answering, 2 out of sync: target %d, want none", r)
	}
	if r, ok := b.handOffTarget(meta.ShardID, replicas, false); !ok || r != 2 {
		t.Errorf("__meta, 3 not answering: target %d %v, want 2", r, ok)
	}
	tr.failures[3] = 0
	if r, ok := b.handOffTarget(meta.ShardID, replicas, false); !ok || r != 3 {
		t.Errorf("__meta: target %d %v, want the first other replica", r, ok)
	}
	tr.failures[2], tr.failures[3] = isrFenceAfter, isrFenceAfter
	if r, ok := b.handOffTarget(meta.ShardID, replicas, false); ok {
		t.Errorf("__meta, no other broker answering: target %d, want none", r)
	}
}

// requests counts the leader transfers asked for per shard.
type requests map[uint64]int

func (r requests) RequestLeaderTransfer(shard, _ uint64) error {
	r[shard]++
	return nil
}

// leads is a leadership view set by the test.
type leads map[uint64]bool

func (l leads) isLeader(shard uint64) (uint64, bool) { return 1, l[shard] }

// TestFreshShardPressedUntilPreferredLeads: a new shard's first leadership
// won here is handed to its preferred replica, asked again when the
// transfer did not take (not while one may still be in progress), and
// forgotten once this broker no longer leads it or after freshHandOffFor;
// a round full with maxTransfersPerRound leaves the rest for the next.
func TestFreshShardPressedUntilPreferredLeads(t *testing.T) {
	st := &meta.State{Brokers: map[uint64]*meta.Broker{1: {ID: 1}, 2: {ID: 2}, 3: {ID: 3}}, Topics: map[string]*meta.Topic{"t": {Name: "t"}}}
	led := leads{}
	for i := range maxTransfersPerRound + 2 {
		shard := uint64(100 + i)
		st.Topics["t"].Partitions = append(st.Topics["t"].Partitions, meta.Partition{Index: int32(i), ShardID: shard, Replicas: []uint64{3, 1, 2}})
		led[shard] = true
	}
	// One more new shard whose preferred broker this leadership saw fall
	// behind (it stopped answering): not handed to it.
	const behind = 99
	st.Topics["t"].Partitions = append(st.Topics["t"].Partitions, meta.Partition{Index: 99, ShardID: behind, Replicas: []uint64{3, 1, 2}})
	tr := newISRTracker(1, lagMax, nil, nil, nil, peerHTTP{}, zerolog.Nop())
	tr.led[behind] = newShardSync(4, []uint64{3, 1, 2}, 1, t0)
	tr.failures[3] = isrFenceAfter
	asked := requests{}
	b := &balancer{self: 1, meta: fixedState{st}, leaders: led, nh: asked, peers: everyoneAnswers{}, inSync: tr, log: zerolog.Nop(), retryFresh: 2 * time.Second}
	fresh := newFreshShards()
	for shard := range led {
		fresh.add(shard, t0)
	}
	led[behind] = true
	fresh.add(behind, t0)
	b.handFresh(context.Background(), fresh, t0)
	if len(asked) != maxTransfersPerRound {
		t.Fatalf("first round asked %d transfers, want a full round of %d", len(asked), maxTransfersPerRound)
	}
	b.handFresh(context.Background(), fresh, t0.Add(100*time.Millisecond))
	if len(asked) != maxTransfersPerRound+2 || asked[behind] != 0 {
		t.Fatalf("second round: %d shards asked, want the 2 left over too; the one behind asked %d times, want 0", len(asked), asked[behind])
	}
	for shard, n := range asked {
		if n != 1 {
			t.Fatalf("shard %d asked %d times within the retry interval", shard, n)
		}
	}
	// Shard 100 moved; the others' transfers did not take.
	delete(led, 100)
	b.handFresh(context.Background(), fresh, t0.Add(2200*time.Millisecond))
	if asked[100] != 1 || asked[101] != 2 {
		t.Fatalf("after the retry interval: shard 100 (moved) asked %d times, shard 101 (still here) %d; want 1 and 2", asked[100], asked[101])
	}
	b.handFresh(context.Background(), fresh, t0.Add(freshHandOffFor+time.Second))
	if !fresh.empty() {
		t.Fatalf("still pressing %d shards after %v", len(fresh.since), freshHandOffFor)
	}
}

// TestFreshShardForgottenOnceLedElsewhere: a new shard whose first
// leadership this broker won is pressed towards its preferred replica
// only until a leader elsewhere is seen; were this broker to lead it again
// later (an operator's move, ElectLeaders), it is not pressed again. A
// report of no leader (an election under way) forgets nothing.
func TestFreshShardForgottenOnceLedElsewhere(t *testing.T) {
	st := &meta.State{Brokers: map[uint64]*meta.Broker{1: {ID: 1}, 2: {ID: 2}, 3: {ID: 3}},
		Topics: map[string]*meta.Topic{"t": {Name: "t", Partitions: []meta.Partition{{Index: 0, ShardID: 100, Replicas: []uint64{3, 1, 2}}}}}}
	reg := newRegistry()
	reg.partitionStarted(100)
	b := &balancer{self: 1, meta: fixedState{st}, replicas: reg, log: zerolog.Nop()}
	pending, fresh := map[uint64]bool{}, newFreshShards()
	if flush, press := b.leaderChanged(raftio.LeaderInfo{ShardID: 100, LeaderID: 1, Term: 2}, pending, fresh); !flush || !press || fresh.empty() {
		t.Fatalf("first leadership won here: flush %v, press %v, pressing %d shards; want the shard reported and pressed", flush, press, len(fresh.since))
	}
	b.leaderChanged(raftio.LeaderInfo{ShardID: 100, LeaderID: 0, Term: 3}, pending, fresh)
	if fresh.empty() {
		t.Fatal("a report of no leader forgot the fresh shard")
	}
	b.leaderChanged(raftio.LeaderInfo{ShardID: 100, LeaderID: 3, Term: 3}, pending, fresh)
	if !fresh.empty() {
		t.Fatal("still pressing a shard its preferred replica leads")
	}
	if _, press := b.leaderChanged(raftio.LeaderInfo{ShardID: 100, LeaderID: 1, Term: 4}, pending, fresh); press || !fresh.empty() {
		t.Fatal("a later leadership here is pressed as if it were the first")
	}
}
