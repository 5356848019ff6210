package group

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// classicSubscription is a consumer protocol subscription (v1: with the
// partitions owned) to topic t.
func classicSubscription(owned ...int32) []byte {
	sub := kmsg.NewConsumerMemberMetadata()
	sub.Version, sub.Topics = 1, []string{"t"}
	if len(owned) > 0 {
		o := kmsg.NewConsumerMemberMetadataOwnedPartition()
		o.Topic, o.Partitions = "t", owned
		sub.OwnedPartitions = append(sub.OwnedPartitions, o)
	}
	return sub.AppendTo(nil)
}

// classicJoinSync joins group "cg" of shard 1 as a classic member with
// protocol type protocolType, and syncs; a leader assigns itself all of
// t. It returns the member id, generation and assigned partitions of t.
func classicJoinSync(t *testing.T, c *Coordinator, topics TopicMetadata, protocolType, memberID string, owned ...int32) (string, int32, []int32) {
	t.Helper()
	ctx := context.Background()
	join := kmsg.NewPtrJoinGroupRequest()
	join.Version = 5
	join.Group, join.MemberID, join.ProtocolType = "cg", memberID, protocolType
	join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 30000, 30000
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "cooperative-sticky", classicSubscription(owned...)
	join.Protocols = append(join.Protocols, p)
	jr := c.JoinGroup(ctx, 1, join, Client{ID: "classic"}, topics)
	if jr.ErrorCode == kerr.MemberIDRequired.Code {
		join.MemberID = jr.MemberID
		jr = c.JoinGroup(ctx, 1, join, Client{ID: "classic"}, topics)
	}
	if jr.ErrorCode != 0 {
		t.Fatalf("classic join: %v", kerr.ErrorForCode(jr.ErrorCode))
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Version = 5
	sync.Group, sync.MemberID, sync.Generation = "cg", jr.MemberID, jr.Generation
	sync.ProtocolType, sync.Protocol = jr.ProtocolType, jr.Protocol
	if jr.LeaderID == jr.MemberID {
		a := kmsg.NewSyncGroupRequestGroupAssignment()
		asg := kmsg.NewConsumerMemberAssignment()
		at := kmsg.NewConsumerMemberAssignmentTopic()
		at.Topic, at.Partitions = "t", []int32{0, 1, 2, 3}
		asg.Topics = append(asg.Topics, at)
		a.MemberID, a.MemberAssignment = jr.MemberID, asg.AppendTo(nil)
		sync.GroupAssignment = append(sync.GroupAssignment, a)
	}
	sr := c.SyncGroup(ctx, 1, sync)
	if sr.ErrorCode != 0 {
		t.Fatalf("classic sync: %v", kerr.ErrorForCode(sr.ErrorCode))
	}
	asg := kmsg.NewConsumerMemberAssignment()
	if err := asg.ReadFrom(sr.MemberAssignment); err != nil {
		t.Fatalf("assignment: %v", err)
	}
	var parts []int32
	for _, at := range asg.Topics {
		parts = append(parts, at.Partitions...)
	}
	return jr.MemberID, jr.Generation, parts
}

func classicHeartbeat(c *Coordinator, memberID string, generation int32) int16 {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 4
	req.Group, req.MemberID, req.Generation = "cg", memberID, generation
	return c.Heartbeat(context.Background(), 1, req).ErrorCode
}

func classicCommit(c *Coordinator, memberID string, generation int32) int16 {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 8
	req.Group, req.MemberID, req.Generation = "cg", memberID, generation
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Offset = 10
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return c.OffsetCommit(context.Background(), 1, req).Topics[0].Partitions[0].ErrorCode
}

// gatedShard holds consumer group records until its gate opens.
type gatedShard struct {
	*termShard
	gate chan struct{}
}

func (s *gatedShard) ProposeGroup(ctx context.Context, shard uint64, cmd []byte) error {
	if strings.Contains(string(cmd), `"consumer":{`) {
		<-s.gate
	}
	return s.termShard.ProposeGroup(ctx, shard, cmd)
}

// TestMigrationClassicRequestBeforeUpgradeStored: a classic heartbeat
// arriving while the upgrade's record is not yet applied reaches the
// consumer group; no classic view with the old members is loaded from the
// replica (its session expiry would store an empty classic group over the
// consumer group's record).
func TestMigrationClassicRequestBeforeUpgradeStored(t *testing.T) {
	s := &gatedShard{termShard: newTermShard(), gate: make(chan struct{})}
	c := NewCoordinator(Config{}, s, zerolog.Nop())
	defer c.Close()
	topics := topicCounts{"t": 4}
	id, gen, _ := classicJoinSync(t, c, topics, ProtocolTypeConsumer, "")
	joined := make(chan ConsumerHeartbeatAnswer, 1)
	go func() {
		joined <- c.ConsumerGroupHeartbeat(context.Background(), 1, ConsumerHeartbeat{Version: 1, Group: "cg", MemberID: "k", RebalanceTimeoutMs: 60000, Topics: []string{"t"}, Owned: Assignment{}}, Client{ID: "k"}, topics)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for upgraded := false; !upgraded; {
		c.locked(func() { _, upgraded = c.cgroups["cg"] })
		if time.Now().After(deadline) {
			t.Fatal("the group was not upgraded")
		}
		time.Sleep(time.Millisecond)
	}
	if code := classicHeartbeat(c, id, gen); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("classic heartbeat during the upgrade: %v, want REBALANCE_IN_PROGRESS", kerr.ErrorForCode(code))
	}
	c.locked(func() {
		if g, ok := c.groups["cg"]; ok && len(g.members) > 0 {
			t.Errorf("a classic view of the upgraded group was loaded with %d members", len(g.members))
		}
	})
	close(s.gate)
	if ans := <-joined; ans.Code != 0 {
		t.Fatalf("join: %+v", ans)
	}
}

// TestMigrationUpgradeAndDowngrade: a KIP-848 member joining a classic
// group with a member converts it (persisted: no classic members left in
// the record); the classic member is told to rejoin, gives up half its
// partitions before the new member gets them, commits with its
// generation; the state survives a reload in a new term; when the KIP-848
// member leaves, the group is classic again and rebalances.
func TestMigrationUpgradeAndDowngrade(t *testing.T) {
	s := newTermShard()
	c := NewCoordinator(Config{}, s, zerolog.Nop())
	defer c.Close()
	topics := topicCounts{"t": 4}

	id, gen, parts := classicJoinSync(t, c, topics, ProtocolTypeConsumer, "")
	if len(parts) != 4 {
		t.Fatalf("classic member assigned %v, want all 4", parts)
	}
	k := join(t, c, topics, "k", "t")
	if k.Epoch != gen+1 || k.Assignment.count() != 0 {
		t.Fatalf("joining member: epoch %d, assignment %v; want epoch %d and nothing yet", k.Epoch, k.Assignment, gen+1)
	}
	rec, _ := s.smr.Group("cg")
	if rec.Consumer == nil || len(rec.Members) != 0 || len(rec.Consumer.Members) != 2 {
		t.Fatalf("stored after the upgrade: %d classic members, consumer record %+v", len(rec.Members), rec.Consumer)
	}
	if code := classicHeartbeat(c, id, gen); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("classic heartbeat after the upgrade: %v, want REBALANCE_IN_PROGRESS", kerr.ErrorForCode(code))
	}
	if code := classicCommit(c, id, gen); code != 0 {
		t.Fatalf("classic commit with its generation: %v", kerr.ErrorForCode(code))
	}
	if code := classicCommit(c, id, gen+5); code != kerr.IllegalGeneration.Code {
		t.Fatalf("classic commit with another generation: %v, want ILLEGAL_GENERATION", kerr.ErrorForCode(code))
	}

	// The classic member rejoins owning everything: it keeps two, still
	// at its old generation, until it rejoins without the other two.
	_, gen2, kept := classicJoinSync(t, c, topics, ProtocolTypeConsumer, id, 0, 1, 2, 3)
	if gen2 != gen || len(kept) != 2 {
		t.Fatalf("classic rejoin while revoking: generation %d, assigned %v; want %d and 2 partitions", gen2, kept, gen)
	}
	if k = hb(t, c, topics, ConsumerHeartbeat{MemberID: "k", MemberEpoch: k.Epoch, Owned: Assignment{}}); k.Assignment.count() != 0 {
		t.Fatalf("the new member got %v before the classic member gave them up", k.Assignment)
	}
	_, gen3, kept3 := classicJoinSync(t, c, topics, ProtocolTypeConsumer, id, kept...)
	if gen3 != gen+1 || len(kept3) != 2 {
		t.Fatalf("classic rejoin after revoking: generation %d, assigned %v; want %d and the same 2", gen3, kept3, gen+1)
	}
	k = hb(t, c, topics, ConsumerHeartbeat{MemberID: "k", MemberEpoch: k.Epoch, Owned: Assignment{}})
	if k.Assignment.count() != 2 || !k.Assignment.intersect(Assignment{"t": kept3}).empty() {
		t.Fatalf("the new member got %v, want the 2 the classic member gave up (it kept %v)", k.Assignment, kept3)
	}
	d, code := c.DescribeConsumerGroup(context.Background(), 1, "cg")
	classicMembers := 0
	for _, m := range d.Members {
		if m.Classic != nil {
			classicMembers++
		}
	}
	if code != 0 || d.State != ConsumerStateStable || len(d.Members) != 2 || classicMembers != 1 {
		t.Fatalf("describe the mixed group: code %d, %+v", code, d)
	}

	// A new term reloads the group from the replica: the classic member
	// is still one.
	s.term.Add(1)
	if code := classicHeartbeat(c, id, gen3); code != 0 {
		t.Fatalf("classic heartbeat after a reload: %v", kerr.ErrorForCode(code))
	}

	// The KIP-848 member leaves: classic again, rebalancing.
	if ans := hb(t, c, topics, ConsumerHeartbeat{MemberID: "k", MemberEpoch: epochLeave}); ans.Code != 0 {
		t.Fatalf("leave: %+v", ans)
	}
	rec, _ = s.smr.Group("cg")
	if rec.Consumer != nil || len(rec.Members) != 1 || rec.Members[0].ID != id || rec.Generation != gen3 {
		t.Fatalf("stored after the downgrade: generation %d, members %+v, consumer %+v", rec.Generation, rec.Members, rec.Consumer)
	}
	if _, code := c.DescribeConsumerGroup(context.Background(), 1, "cg"); code != kerr.GroupIDNotFound.Code {
		t.Fatalf("ConsumerGroupDescribe after the downgrade: %v", kerr.ErrorForCode(code))
	}
	if code := classicHeartbeat(c, id, gen3); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("classic heartbeat after the downgrade: %v, want REBALANCE_IN_PROGRESS", kerr.ErrorForCode(code))
	}
	if _, gen4, all := classicJoinSync(t, c, topics, ProtocolTypeConsumer, id, kept3...); gen4 != gen3+1 || len(all) != 4 {
		t.Fatalf("classic group after the downgrade: generation %d, assigned %v; want %d and all 4", gen4, all, gen3+1)
	}
}

// TestMigrationPolicy: the policy decides which conversions happen; a
// classic group of another protocol type never upgrades.
func TestMigrationPolicy(t *testing.T) {
	topics := topicCounts{"t": 4}
	t.Run("disabled", func(t *testing.T) {
		c := NewCoordinator(Config{MigrationPolicy: MigrationDisabled}, newTermShard(), zerolog.Nop())
		defer c.Close()
		classicJoinSync(t, c, topics, ProtocolTypeConsumer, "")
		ans := hb(t, c, topics, ConsumerHeartbeat{MemberID: "k", MemberEpoch: 0, RebalanceTimeoutMs: 60000, Topics: []string{"t"}, Owned: Assignment{}})
		if ans.Code != kerr.GroupIDNotFound.Code {
			t.Fatalf("join with the upgrade disabled: %+v, want GROUP_ID_NOT_FOUND", ans)
		}
	})
	t.Run("connect", func(t *testing.T) {
		c := NewCoordinator(Config{}, newTermShard(), zerolog.Nop())
		defer c.Close()
		classicJoinSync(t, c, topics, "connect", "")
		ans := hb(t, c, topics, ConsumerHeartbeat{MemberID: "k", MemberEpoch: 0, RebalanceTimeoutMs: 60000, Topics: []string{"t"}, Owned: Assignment{}})
		if ans.Code != kerr.GroupIDNotFound.Code {
			t.Fatalf("join to a connect group: %+v, want GROUP_ID_NOT_FOUND", ans)
		}
	})
	t.Run("upgrade only", func(t *testing.T) {
		c := NewCoordinator(Config{MigrationPolicy: MigrationUpgrade}, newTermShard(), zerolog.Nop())
		defer c.Close()
		classicJoinSync(t, c, topics, ProtocolTypeConsumer, "")
		k := join(t, c, topics, "k", "t")
		if ans := hb(t, c, topics, ConsumerHeartbeat{MemberID: "k", MemberEpoch: epochLeave}); ans.Code != 0 {
			t.Fatalf("leave: %+v", ans)
		}
		d, code := c.DescribeConsumerGroup(context.Background(), 1, "cg")
		if code != 0 || len(d.Members) != 1 || d.Members[0].Classic == nil || d.Epoch <= k.Epoch {
			t.Fatalf("with the downgrade disabled the group stays a consumer group with its classic member: code %d, %+v", code, d)
		}
	})
}

// TestMigrationEmptyConsumerGroupTurnsClassic: a classic member joining a
// consumer group whose members all left makes it a classic group.
func TestMigrationEmptyConsumerGroupTurnsClassic(t *testing.T) {
	c := NewCoordinator(Config{}, newTermShard(), zerolog.Nop())
	defer c.Close()
	topics := topicCounts{"t": 4}
	join(t, c, topics, "k", "t")
	if ans := hb(t, c, topics, ConsumerHeartbeat{MemberID: "k", MemberEpoch: epochLeave}); ans.Code != 0 {
		t.Fatalf("leave: %+v", ans)
	}
	classicJoinSync(t, c, topics, ProtocolTypeConsumer, "")
	d, code := c.Describe(context.Background(), 1, "cg")
	if code != 0 || d.State != StateStable || len(d.Members) != 1 || d.Protocol != "cooperative-sticky" {
		t.Fatalf("DescribeGroups after a classic member joined the empty consumer group: code %d, %+v", code, d)
	}
	if _, code := c.DescribeConsumerGroup(context.Background(), 1, "cg"); code != kerr.GroupIDNotFound.Code {
		t.Fatalf("ConsumerGroupDescribe: %v, want GROUP_ID_NOT_FOUND", kerr.ErrorForCode(code))
	}
}
