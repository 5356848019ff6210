package group

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// termShard is a localShard whose Raft term a test moves, as leadership
// leaving and coming back between two requests does; slowEmpty delays the
// proposal of memberless StoreGroups.
type termShard struct {
	localShard
	term      atomic.Uint64
	slowEmpty time.Duration
}

func newTermShard() *termShard {
	s := &termShard{localShard: localShard{smr: NewStateMachine()}}
	s.term.Store(1)
	return s
}

func (s *termShard) IsLeader(uint64) (uint64, bool) { return s.term.Load(), true }

func (s *termShard) ProposeGroup(ctx context.Context, shard uint64, cmd []byte) error {
	if s.slowEmpty > 0 && strings.Contains(string(cmd), `"store_group"`) && !strings.Contains(string(cmd), `"members":[`) {
		time.Sleep(s.slowEmpty)
	}
	return s.localShard.ProposeGroup(ctx, shard, cmd)
}

// startCoordinator runs a coordinator on a termShard for one test.
func startCoordinator(t *testing.T, cfg Config, slowEmpty time.Duration) (context.Context, *termShard, *Coordinator) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	s := newTermShard()
	s.slowEmpty = slowEmpty
	c := NewCoordinator(cfg, s, zerolog.Nop())
	t.Cleanup(c.Close)
	return ctx, s, c
}

// other applies a command as another leader of the shard would have.
func (s *termShard) other(t *testing.T, c Command) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index++
	res, err := s.smr.Apply(sm.Entry{Index: s.index, Cmd: c.Encode()})
	if err != nil || res.Value != 0 {
		t.Fatalf("apply %+v: %v %+v", c, err, res)
	}
}

// member is one test member's view of its group.
type testMember struct {
	id         string
	generation int32
	leader     string
	assignment []byte
}

// joinSync joins (v3: no KIP-394 round) and syncs one member of a group
// it is alone in or whose other members are already stable, handing every
// member the assignment "<member id>" when it leads.
func joinSync(ctx context.Context, t *testing.T, c *Coordinator, group, memberID string, instance *string) testMember {
	t.Helper()
	join := kmsg.NewPtrJoinGroupRequest()
	join.Version = 5
	join.Group, join.MemberID, join.InstanceID, join.ProtocolType = group, memberID, instance, "consumer"
	join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 30000, 30000
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", []byte("meta")
	join.Protocols = append(join.Protocols, p)
	jr := c.JoinGroup(ctx, 0, join, Client{ID: "client", Host: "127.0.0.1"}, nil)
	if jr.ErrorCode == kerr.MemberIDRequired.Code {
		join.MemberID = jr.MemberID
		jr = c.JoinGroup(ctx, 0, join, Client{ID: "client", Host: "127.0.0.1"}, nil)
	}
	if jr.ErrorCode != 0 {
		t.Fatalf("join %s: %v", group, kerr.ErrorForCode(jr.ErrorCode))
	}
	m := testMember{id: jr.MemberID, generation: jr.Generation, leader: jr.LeaderID}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Version = 5
	sync.Group, sync.MemberID, sync.InstanceID, sync.Generation = group, m.id, instance, m.generation
	if m.id == jr.LeaderID {
		for _, jm := range jr.Members {
			a := kmsg.NewSyncGroupRequestGroupAssignment()
			a.MemberID, a.MemberAssignment = jm.MemberID, []byte(jm.MemberID)
			sync.GroupAssignment = append(sync.GroupAssignment, a)
		}
	}
	sr := c.SyncGroup(ctx, 0, sync)
	if sr.ErrorCode != 0 {
		t.Fatalf("sync %s: %v", group, kerr.ErrorForCode(sr.ErrorCode))
	}
	m.assignment = sr.MemberAssignment
	return m
}

func heartbeat(ctx context.Context, c *Coordinator, group string, m testMember, instance *string) int16 {
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version = 4
	hb.Group, hb.MemberID, hb.InstanceID, hb.Generation = group, m.id, instance, m.generation
	return c.Heartbeat(ctx, 0, hb).ErrorCode
}

func commit(ctx context.Context, c *Coordinator, group string, m testMember, offset int64, metadata string) []int16 {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 8
	req.Group, req.MemberID, req.Generation = group, m.id, m.generation
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	for p := int32(0); p < 2; p++ {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = p, offset
		if p == 1 {
			rp.Metadata = &metadata
		}
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	var codes []int16
	for _, p := range c.OffsetCommit(ctx, 0, req).Topics[0].Partitions {
		codes = append(codes, p.ErrorCode)
	}
	return codes
}

func committed(t *testing.T, s *termShard, group string) int64 {
	t.Helper()
	rec, ok := s.smr.Group(group)
	if !ok {
		t.Fatalf("group %s not stored", group)
	}
	return rec.Offsets["t"][0].Offset
}

// TestCoordinatorReloadsOnNewTerm: leadership of the shard leaves and
// comes back between two requests, while another leader rebalanced the
// group without the member. The coordinator must not go on from the
// groups it held in the earlier term: the fenced member's heartbeat is
// refused and its commit does not move the committed offset back.
func TestCoordinatorReloadsOnNewTerm(t *testing.T) {
	ctx, s, c := startCoordinator(t, Config{}, 0)

	x := joinSync(ctx, t, c, "g", "", nil)
	if codes := commit(ctx, c, "g", x, 10, ""); codes[0] != 0 {
		t.Fatalf("commit in generation %d: %v", x.generation, kerr.ErrorForCode(codes[0]))
	}
	// Another coordinator (term 2) rebalanced the group to member y and
	// committed further; this broker leads again in term 3.
	s.other(t, Command{StoreGroup: &StoreGroup{Group: "g", ProtocolType: "consumer", Protocol: "range", Generation: x.generation + 1, Leader: "y",
		Members: []MemberRecord{{ID: "y", SessionTimeoutMs: 30000, RebalanceTimeoutMs: 30000, Protocols: []Protocol{{Name: "range"}}, Assignment: []byte("y")}}}})
	s.other(t, Command{Commit: &Commit{Group: "g", Generation: x.generation + 1, Offsets: map[string]map[int32]OffsetRecord{"t": {0: {Offset: 20}}}}})
	s.term.Store(3)

	if code := heartbeat(ctx, c, "g", x, nil); code != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat of a member the newer generation dropped: %v, want UNKNOWN_MEMBER_ID", kerr.ErrorForCode(code))
	}
	if codes := commit(ctx, c, "g", x, 11, ""); codes[0] == 0 {
		t.Fatal("commit of a fenced generation accepted")
	}
	if got := committed(t, s, "g"); got != 20 {
		t.Fatalf("committed offset %d after the fenced commit, want 20", got)
	}
	y := testMember{id: "y", generation: x.generation + 1}
	if code := heartbeat(ctx, c, "g", y, nil); code != 0 {
		t.Fatalf("heartbeat of the current member: %v", kerr.ErrorForCode(code))
	}
}

// TestStateMachineFencesOlderGenerations: a commit accepted in a
// generation older than the stored one (a coordinator that lost its
// leadership between checking and proposing) and a membership older than
// the stored one are refused by every replica.
func TestStateMachineFencesOlderGenerations(t *testing.T) {
	m := NewStateMachine()
	apply(t, m, 1, Command{StoreGroup: &StoreGroup{Group: "g", ProtocolType: "consumer", Generation: 5}})
	apply(t, m, 2, Command{Commit: &Commit{Group: "g", Generation: 5, Offsets: map[string]map[int32]OffsetRecord{"t": {0: {Offset: 7}}}}})
	res, _ := m.Apply(sm.Entry{Index: 3, Cmd: Command{Commit: &Commit{Group: "g", Generation: 4, Offsets: map[string]map[int32]OffsetRecord{"t": {0: {Offset: 3}}}}}.Encode()})
	if !errors.Is(CommandError(res), ErrFenced) {
		t.Fatalf("commit of generation 4 after 5: %+v", res)
	}
	res, _ = m.Apply(sm.Entry{Index: 4, Cmd: Command{StoreGroup: &StoreGroup{Group: "g", ProtocolType: "consumer", Generation: 4}}.Encode()})
	if !errors.Is(CommandError(res), ErrStale) {
		t.Fatalf("membership of generation 4 after 5: %+v", res)
	}
	// A standalone commit (no generation) is not a member's: accepted.
	apply(t, m, 5, Command{Commit: &Commit{Group: "g", Offsets: map[string]map[int32]OffsetRecord{"t": {0: {Offset: 9}}}}})
	rec, _ := m.Group("g")
	if rec.Generation != 5 || rec.Offsets["t"][0].Offset != 9 {
		t.Fatalf("group after refused commands: %+v", rec)
	}
}

// TestCoordinatorPersistsTransitionsInOrder: a group emptied by its last
// member's leave and rejoined at once persists both generations; the
// stored one must end as the latest even when the empty one is slow to
// propose (it used to be proposed from its own goroutine, after the
// rejoin's, regressing the stored generation).
func TestCoordinatorPersistsTransitionsInOrder(t *testing.T) {
	ctx, s, c := startCoordinator(t, Config{}, 50*time.Millisecond)
	for range 4 {
		x := joinSync(ctx, t, c, "g", "", nil)
		time.Sleep(2 * s.slowEmpty) // the time a transition persisted out of order would take to land
		rec, _ := s.smr.Group("g")
		if rec.Generation != x.generation || len(rec.Members) != 1 || rec.Members[0].ID != x.id {
			t.Fatalf("stored generation %d members %+v, want generation %d with %s", rec.Generation, rec.Members, x.generation, x.id)
		}
		leave := kmsg.NewPtrLeaveGroupRequest()
		leave.Version = 3
		leave.Group = "g"
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = x.id
		leave.Members = append(leave.Members, lm)
		if lr := c.LeaveGroup(ctx, 0, leave); lr.ErrorCode != 0 || lr.Members[0].ErrorCode != 0 {
			t.Fatalf("leave: %+v", lr)
		}
	}
}

// TestStaticMemberRejoinKeepsAssignment: a known static member that
// restarts (same instance id, no member id) while the group is stable gets
// its assignment back in the same generation without a rebalance; its old
// member id is fenced, and the replacement is stored.
func TestStaticMemberRejoinKeepsAssignment(t *testing.T) {
	ctx, s, c := startCoordinator(t, Config{}, 0)
	inst := "instance-a"
	a := joinSync(ctx, t, c, "g", "", &inst)
	if a.leader != a.id || string(a.assignment) != a.id {
		t.Fatalf("first member: %+v", a)
	}

	again := joinSync(ctx, t, c, "g", "", &inst)
	if again.id == a.id {
		t.Fatal("the rejoin kept the old member id")
	}
	if again.generation != a.generation {
		t.Fatalf("generation %d after a static rejoin, want %d (no rebalance)", again.generation, a.generation)
	}
	if again.leader != a.id {
		t.Fatalf("leader %q answered to the rejoin, want the previous leader id %q (so it does not assign)", again.leader, a.id)
	}
	if string(again.assignment) != a.id {
		t.Fatalf("assignment %q after the rejoin, want the previous one %q", again.assignment, a.id)
	}
	if code := heartbeat(ctx, c, "g", a, &inst); code != kerr.FencedInstanceID.Code {
		t.Fatalf("heartbeat of the replaced member id: %v, want FENCED_INSTANCE_ID", kerr.ErrorForCode(code))
	}
	if code := heartbeat(ctx, c, "g", again, &inst); code != 0 {
		t.Fatalf("heartbeat of the new member id: %v", kerr.ErrorForCode(code))
	}
	rec, _ := s.smr.Group("g")
	if rec.Generation != a.generation || len(rec.Members) != 1 || rec.Members[0].ID != again.id || rec.Leader != again.id {
		t.Fatalf("stored %+v, want generation %d with member and leader %s", rec, a.generation, again.id)
	}

	// From JoinGroup v9 (KIP-814) the restarted leader learns it leads,
	// with the members, and that it must not assign.
	join := kmsg.NewPtrJoinGroupRequest()
	join.Version = 9
	join.Group, join.InstanceID, join.ProtocolType = "g", &inst, "consumer"
	join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 30000, 30000
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", []byte("meta")
	join.Protocols = append(join.Protocols, p)
	jr := c.JoinGroup(ctx, 0, join, Client{ID: "client"}, nil)
	if jr.ErrorCode != 0 || jr.Generation != a.generation || jr.LeaderID != jr.MemberID || !jr.SkipAssignment ||
		len(jr.Members) != 1 || !strings.HasPrefix(jr.MemberID, inst+"-") {
		t.Fatalf("v9 rejoin of the static leader: %+v", jr)
	}
}

// TestCoordinatorLimits: group.max.size refuses the member past it;
// offset.metadata.max.bytes refuses a partition whose metadata is longer
// and commits the others.
func TestCoordinatorLimits(t *testing.T) {
	ctx, s, c := startCoordinator(t, Config{MaxSize: 1, OffsetMetadataMaxBytes: 8}, 0)
	x := joinSync(ctx, t, c, "g", "", nil)

	join := kmsg.NewPtrJoinGroupRequest()
	join.Version = 5
	join.Group, join.ProtocolType = "g", "consumer"
	join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 30000, 30000
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name = "range"
	join.Protocols = append(join.Protocols, p)
	if jr := c.JoinGroup(ctx, 0, join, Client{ID: "other"}, nil); jr.ErrorCode != kerr.GroupMaxSizeReached.Code {
		t.Fatalf("second member of a group of at most 1: %v", kerr.ErrorForCode(jr.ErrorCode))
	}

	codes := commit(ctx, c, "g", x, 5, "123456789")
	if codes[0] != 0 || codes[1] != kerr.OffsetMetadataTooLarge.Code {
		t.Fatalf("commit codes %v, want [0 %d]", codes, kerr.OffsetMetadataTooLarge.Code)
	}
	rec, _ := s.smr.Group("g")
	if _, ok := rec.Offsets["t"][1]; ok || rec.Offsets["t"][0].Offset != 5 {
		t.Fatalf("stored offsets %+v, want only partition 0 at 5", rec.Offsets)
	}
}

// TestStateMachineExpiresOffsets: the expiry command, applied with its own
// time, removes the offsets of memberless groups once the retention has
// passed since the group became empty (or, without a rebalance ever, since
// the commit), with tombstones, and the emptied groups; groups with
// members, or named active, keep theirs. Two replicas write the same log.
func TestStateMachineExpiresOffsets(t *testing.T) {
	const (
		t0   = 1_700_000_000_000
		keep = 1000
	)
	build := func() *StateMachine {
		m := NewStateMachine()
		offs := func(o int64, at int64) map[string]map[int32]OffsetRecord {
			return map[string]map[int32]OffsetRecord{"t": {0: {Offset: o, CommitMs: at}, 1: {Offset: o, CommitMs: at + 600}}}
		}
		applyAt(t, m, 1, t0, Command{Commit: &Commit{Group: "standalone", Offsets: offs(1, t0)}})
		applyAt(t, m, 2, t0, Command{Commit: &Commit{Group: "emptied", Offsets: offs(2, t0)}})
		applyAt(t, m, 3, t0+500, Command{StoreGroup: &StoreGroup{Group: "emptied", ProtocolType: "consumer", Generation: 3}})
		applyAt(t, m, 4, t0, Command{StoreGroup: &StoreGroup{Group: "busy", ProtocolType: "consumer", Generation: 1, Members: []MemberRecord{{ID: "m"}}}})
		applyAt(t, m, 5, t0, Command{Commit: &Commit{Group: "busy", Generation: 1, Offsets: offs(3, t0)}})
		applyAt(t, m, 6, t0, Command{Commit: &Commit{Group: "joining", Offsets: offs(4, t0)}})
		return m
	}
	m := build()
	end := m.LogEnd()
	// Nothing is old enough yet.
	applyAt(t, m, 7, t0+keep-1, Command{ExpireOffsets: &ExpireOffsets{RetentionMs: keep, Active: []string{"joining"}}})
	if m.LogEnd() != end {
		t.Fatalf("records written before anything expired: end %d, was %d", m.LogEnd(), end)
	}
	// The standalone group's partition 0 (committed at t0) expires, its
	// partition 1 (t0+600) not; the emptied group's offsets count from
	// when it became empty (t0+500).
	applyAt(t, m, 8, t0+keep, Command{ExpireOffsets: &ExpireOffsets{RetentionMs: keep, Active: []string{"joining"}}})
	rec, _ := m.Group("standalone")
	if _, ok := rec.Offsets["t"][0]; ok || rec.Offsets["t"][1].Offset != 1 {
		t.Fatalf("standalone after its first offset expired: %+v", rec.Offsets)
	}
	if rec, _ := m.Group("emptied"); len(rec.Offsets["t"]) != 2 {
		t.Fatalf("emptied group lost offsets before its retention since it became empty: %+v", rec.Offsets)
	}
	applyAt(t, m, 9, t0+keep+600, Command{ExpireOffsets: &ExpireOffsets{RetentionMs: keep, Active: []string{"joining"}}})
	for _, gone := range []string{"standalone", "emptied"} {
		if rec, ok := m.Group(gone); ok {
			t.Fatalf("group %s still stored after all its offsets expired: %+v", gone, rec)
		}
	}
	for _, kept := range []string{"busy", "joining"} {
		if rec, _ := m.Group(kept); len(rec.Offsets["t"]) != 2 {
			t.Fatalf("group %s lost offsets: %+v", kept, rec.Offsets)
		}
	}
	recs, _ := readAll(m, end)
	tombs := map[LogKey]bool{}
	for _, r := range recs {
		if r.Committed != nil || r.Group != nil {
			t.Fatalf("expiry wrote a live record: %+v", r)
		}
		tombs[r.Key] = true
	}
	want := []LogKey{offsetKey("standalone", "t", 0), offsetKey("standalone", "t", 1), offsetKey("emptied", "t", 0), offsetKey("emptied", "t", 1), {Group: "emptied"}}
	for _, k := range want {
		if !tombs[k] {
			t.Fatalf("no tombstone for %+v in %+v", k, recs)
		}
	}
	if len(tombs) != len(want) {
		t.Fatalf("tombstones %+v, want %+v", tombs, want)
	}

	// A second replica applying the same commands writes the same log.
	other := build()
	applyAt(t, other, 7, t0+keep-1, Command{ExpireOffsets: &ExpireOffsets{RetentionMs: keep, Active: []string{"joining"}}})
	applyAt(t, other, 8, t0+keep, Command{ExpireOffsets: &ExpireOffsets{RetentionMs: keep, Active: []string{"joining"}}})
	applyAt(t, other, 9, t0+keep+600, Command{ExpireOffsets: &ExpireOffsets{RetentionMs: keep, Active: []string{"joining"}}})
	a, _ := readAll(m, 0)
	b, _ := readAll(other, 0)
	if len(a) != len(b) {
		t.Fatalf("replicas differ: %d and %d records", len(a), len(b))
	}
	for i := range a {
		if a[i].Offset != b[i].Offset || a[i].Key != b[i].Key {
			t.Fatalf("replicas differ at %d: %+v and %+v", i, a[i], b[i])
		}
	}
}
