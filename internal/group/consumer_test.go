package group

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
)

// topicCounts is a fixed cluster: topic → partition count.
type topicCounts map[string]int32

func (t topicCounts) Partitions(topic string) (int32, bool) { n, ok := t[topic]; return n, ok }
func (t topicCounts) Names() []string                       { return sortedTopics(t) }

// hb sends one heartbeat to group "cg" on the local shard.
func hb(t *testing.T, c *Coordinator, topics topicCounts, h ConsumerHeartbeat) ConsumerHeartbeatAnswer {
	t.Helper()
	h.Version, h.Group = 1, "cg"
	return c.ConsumerGroupHeartbeat(context.Background(), 1, h, Client{ID: "test", Host: "/127.0.0.1"}, topics)
}

func join(t *testing.T, c *Coordinator, topics topicCounts, id string, subscribed ...string) ConsumerHeartbeatAnswer {
	t.Helper()
	ans := hb(t, c, topics, ConsumerHeartbeat{MemberID: id, MemberEpoch: 0, RebalanceTimeoutMs: 60000, Topics: subscribed, Owned: Assignment{}})
	if ans.Code != 0 {
		t.Fatalf("join %s: code %d (%s)", id, ans.Code, ans.Message)
	}
	return ans
}

// TestConsumerRevokeBeforeAssign: when a second member joins, the first
// is told to give up half its partitions; the second gets none of them
// until the first acknowledges, then all of them, and the epochs follow
// the target's.
func TestConsumerRevokeBeforeAssign(t *testing.T) {
	shard := &localShard{smr: NewStateMachine()}
	c := NewCoordinator(Config{}, shard, zerolog.Nop())
	defer c.Close()
	topics := topicCounts{"t": 4}

	a := join(t, c, topics, "a", "t")
	if a.Epoch != 1 || a.Assignment.count() != 4 {
		t.Fatalf("first member: epoch %d, assignment %v; want epoch 1 and all 4", a.Epoch, a.Assignment)
	}
	b := join(t, c, topics, "b", "t")
	if b.Epoch != 2 || b.Assignment.count() != 0 {
		t.Fatalf("second member: epoch %d, assignment %v; want epoch 2 and nothing while a still owns everything", b.Epoch, b.Assignment)
	}
	// a heartbeats still owning all four: it keeps epoch 1 and is told to
	// keep only its share.
	a = hb(t, c, topics, ConsumerHeartbeat{MemberID: "a", MemberEpoch: 1, Owned: Assignment{"t": {0, 1, 2, 3}}})
	if a.Code != 0 || a.Epoch != 1 || a.Assignment.count() != 2 {
		t.Fatalf("revoking member: %+v; want epoch 1 with 2 partitions", a)
	}
	kept := a.Assignment
	// Until a acknowledges, b gets nothing.
	b = hb(t, c, topics, ConsumerHeartbeat{MemberID: "b", MemberEpoch: 2})
	if b.Code != 0 || b.Assignment.count() != 0 {
		t.Fatalf("b before the revocation is acknowledged: %+v", b)
	}
	// a acknowledges: epoch 2.
	a = hb(t, c, topics, ConsumerHeartbeat{MemberID: "a", MemberEpoch: 1, Owned: kept})
	if a.Code != 0 || a.Epoch != 2 {
		t.Fatalf("acknowledging member: %+v; want epoch 2", a)
	}
	b = hb(t, c, topics, ConsumerHeartbeat{MemberID: "b", MemberEpoch: 2, Owned: Assignment{}})
	if b.Code != 0 || b.Assignment.count() != 2 || !b.Assignment.intersect(kept).empty() {
		t.Fatalf("b after the revocation: %+v; want the 2 partitions a gave up (a kept %v)", b, kept)
	}
	d, code := c.DescribeConsumerGroup(context.Background(), 1, "cg")
	if code != 0 || d.State != ConsumerStateStable || d.Epoch != 2 || d.AssignmentEpoch != 2 {
		t.Fatalf("describe: code %d, %+v; want Stable at epoch 2", code, d)
	}

	// Stale epochs are fenced; an unknown member is unknown.
	if ans := hb(t, c, topics, ConsumerHeartbeat{MemberID: "a", MemberEpoch: 7}); ans.Code != kerr.FencedMemberEpoch.Code {
		t.Fatalf("wrong epoch: code %d, want FENCED_MEMBER_EPOCH", ans.Code)
	}
	if ans := hb(t, c, topics, ConsumerHeartbeat{MemberID: "z", MemberEpoch: 2}); ans.Code != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member: code %d, want UNKNOWN_MEMBER_ID", ans.Code)
	}

	// b leaves: a gets everything back at epoch 3.
	if ans := hb(t, c, topics, ConsumerHeartbeat{MemberID: "b", MemberEpoch: -1}); ans.Code != 0 || ans.Epoch != -1 {
		t.Fatalf("leave: %+v", ans)
	}
	a = hb(t, c, topics, ConsumerHeartbeat{MemberID: "a", MemberEpoch: 2, Owned: kept})
	if a.Code != 0 || a.Epoch != 3 || a.Assignment.count() != 4 {
		t.Fatalf("after b left: %+v; want epoch 3 with all 4", a)
	}

	// The shard itself fences a commit whose member epoch the group left
	// behind (a coordinator that checked, lost its leadership, proposed).
	commit := func(epoch int32) error {
		cmd := Command{Commit: &Commit{Group: "cg", Member: "a", MemberEpoch: epoch,
			Offsets: map[string]map[int32]OffsetRecord{"t": {0: {Offset: 5}}}}}
		return shard.ProposeGroup(context.Background(), 1, cmd.Encode())
	}
	if err := commit(1); !errors.Is(err, ErrFenced) {
		t.Fatalf("commit at epoch 1 after a moved to 3: %v, want ErrFenced", err)
	}
	if err := commit(3); err != nil {
		t.Fatalf("commit at the current epoch: %v", err)
	}

	// The state is in the shard: a coordinator that loads it again sees
	// the same group.
	c2 := NewCoordinator(Config{}, shard, zerolog.Nop())
	defer c2.Close()
	d, code = c2.DescribeConsumerGroup(context.Background(), 1, "cg")
	if code != 0 || len(d.Members) != 1 || d.Members[0].ID != "a" || d.Members[0].Epoch != 3 || d.Members[0].Assigned.count() != 4 {
		t.Fatalf("reloaded: code %d, %+v", code, d)
	}
}

// TestConsumerHeartbeatErrors: Kafka's answers to bad heartbeats.
func TestConsumerHeartbeatErrors(t *testing.T) {
	shard := &localShard{smr: NewStateMachine()}
	c := NewCoordinator(Config{}, shard, zerolog.Nop())
	defer c.Close()
	topics := topicCounts{"t": 2}
	bad := "range-robin"
	badRegex := "t("
	instance := "i1"
	for _, tc := range []struct {
		name string
		h    ConsumerHeartbeat
		want int16
	}{
		{"unknown assignor", ConsumerHeartbeat{MemberID: "m", RebalanceTimeoutMs: 1000, Topics: []string{"t"}, Assignor: &bad}, kerr.UnsupportedAssignor.Code},
		{"bad regex", ConsumerHeartbeat{MemberID: "m", RebalanceTimeoutMs: 1000, Regex: &badRegex}, kerr.InvalidRegularExpression.Code},
		{"no subscription", ConsumerHeartbeat{MemberID: "m", RebalanceTimeoutMs: 1000}, kerr.InvalidRequest.Code},
		{"no member id (v1)", ConsumerHeartbeat{RebalanceTimeoutMs: 1000, Topics: []string{"t"}}, kerr.InvalidRequest.Code},
		{"unknown group", ConsumerHeartbeat{MemberID: "m", MemberEpoch: 3}, kerr.GroupIDNotFound.Code},
		{"static leave without instance", ConsumerHeartbeat{MemberID: "m", MemberEpoch: -2}, kerr.InvalidRequest.Code},
	} {
		if ans := hb(t, c, topics, tc.h); ans.Code != tc.want {
			t.Errorf("%s: code %d (%s), want %d", tc.name, ans.Code, ans.Message, tc.want)
		}
	}

	// A static member that leaves with -2 keeps its place: its instance
	// rejoins under a new member id with its assignment, at the same
	// group epoch; another member claiming a held instance is refused.
	first := hb(t, c, topics, ConsumerHeartbeat{MemberID: "s1", InstanceID: &instance, RebalanceTimeoutMs: 1000, Topics: []string{"t"}, Owned: Assignment{}})
	if first.Code != 0 || first.Assignment.count() != 2 {
		t.Fatalf("static join: %+v", first)
	}
	if ans := hb(t, c, topics, ConsumerHeartbeat{MemberID: "s2", InstanceID: &instance, RebalanceTimeoutMs: 1000, Topics: []string{"t"}, Owned: Assignment{}}); ans.Code != kerr.UnreleasedInstanceID.Code {
		t.Fatalf("second holder of an instance: code %d, want UNRELEASED_INSTANCE_ID", ans.Code)
	}
	if ans := hb(t, c, topics, ConsumerHeartbeat{MemberID: "s1", InstanceID: &instance, MemberEpoch: -2}); ans.Code != 0 || ans.Epoch != -2 {
		t.Fatalf("static leave: %+v", ans)
	}
	back := hb(t, c, topics, ConsumerHeartbeat{MemberID: "s2", InstanceID: &instance, RebalanceTimeoutMs: 1000, Topics: []string{"t"}, Owned: Assignment{}})
	if back.Code != 0 || back.Epoch != first.Epoch || !back.Assignment.equal(first.Assignment) {
		t.Fatalf("static rejoin: %+v; want epoch %d and %v back", back, first.Epoch, first.Assignment)
	}
}

// TestConsumerAssignors: both assignors balance homogeneous subscriptions
// and give each partition to one member; uniform keeps what it can.
func TestConsumerAssignors(t *testing.T) {
	topics := map[string]int32{"a": 5, "b": 3}
	subs := func(ids ...string) []subscriber {
		var out []subscriber
		for _, id := range ids {
			out = append(out, subscriber{id: id, topics: map[string]bool{"a": true, "b": true}})
		}
		return out
	}
	for _, name := range []string{AssignorUniform, AssignorRange} {
		got := assign(name, subs("m1", "m2", "m3"), topics, nil)
		seen := map[topicPartition]string{}
		for id, a := range got {
			for tp := range a.set() {
				if prev, dup := seen[tp]; dup {
					t.Fatalf("%s: %v assigned to %s and %s", name, tp, prev, id)
				}
				seen[tp] = id
			}
		}
		if len(seen) != 8 {
			t.Fatalf("%s: %d partitions assigned, want 8: %v", name, len(seen), got)
		}
		if name == AssignorUniform {
			for id, a := range got {
				if n := a.count(); n < 2 || n > 3 {
					t.Fatalf("uniform: %s has %d partitions, want 2 or 3: %v", id, n, got)
				}
			}
			// A fourth member moves only what it takes.
			next := assign(name, subs("m1", "m2", "m3", "m4"), topics, got)
			moved := 0
			for id, a := range got {
				moved += a.minus(next[id]).count()
			}
			if moved != next["m4"].count() || moved != 2 {
				t.Fatalf("uniform with a fourth member: %d moved, m4 has %d; want 2 and 2: %v", moved, next["m4"].count(), next)
			}
		}
	}
}

// TestConsumerRegexAndSessionExpiry: a regex subscription takes every
// matching topic, including one created later (the group epoch moves);
// a member that stops heartbeating is dropped after the session timeout
// and its partitions go to the others.
func TestConsumerRegexAndSessionExpiry(t *testing.T) {
	shard := &localShard{smr: NewStateMachine()}
	c := NewCoordinator(Config{ConsumerSessionTimeout: 400 * time.Millisecond}, shard, zerolog.Nop())
	defer c.Close()
	topics := topicCounts{"orders-eu": 2, "orders-us": 1, "payments": 3}
	regex := "orders-.*"
	a := hb(t, c, topics, ConsumerHeartbeat{MemberID: "a", RebalanceTimeoutMs: 1000, Regex: &regex, Owned: Assignment{}})
	if a.Code != 0 || !a.Assignment.equal(Assignment{"orders-eu": {0, 1}, "orders-us": {0}}) {
		t.Fatalf("regex member: %+v; want orders-eu and orders-us only", a)
	}
	topics["orders-apac"] = 1
	again := hb(t, c, topics, ConsumerHeartbeat{MemberID: "a", MemberEpoch: a.Epoch, Owned: a.Assignment})
	if again.Code != 0 || again.Epoch != a.Epoch+1 || again.Assignment.count() != 4 {
		t.Fatalf("after orders-apac appeared: %+v; want epoch %d with 4 partitions", again, a.Epoch+1)
	}

	b := hb(t, c, topics, ConsumerHeartbeat{MemberID: "b", RebalanceTimeoutMs: 1000, Topics: []string{"payments"}, Owned: Assignment{}})
	if b.Code != 0 || b.Assignment.count() != 3 {
		t.Fatalf("second member on payments: %+v", b)
	}
	// a keeps heartbeating, b stops: b's session ends, and the group
	// epoch moves without it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ans := hb(t, c, topics, ConsumerHeartbeat{MemberID: "a", MemberEpoch: again.Epoch, Owned: again.Assignment})
		if ans.Code != 0 {
			t.Fatalf("a's heartbeat: %+v", ans)
		}
		again.Epoch = ans.Epoch
		d, _ := c.DescribeConsumerGroup(context.Background(), 1, "cg")
		if len(d.Members) == 1 && d.Members[0].ID == "a" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b never expired: %+v", d)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ans := hb(t, c, topics, ConsumerHeartbeat{MemberID: "b", MemberEpoch: b.Epoch}); ans.Code != kerr.UnknownMemberID.Code {
		t.Fatalf("expired member's heartbeat: code %d, want UNKNOWN_MEMBER_ID", ans.Code)
	}
}

// TestConsumerOffsetFetchEpochs: OffsetFetch v9+ from a member must carry
// its current epoch; an admin fetch (no member) always passes.
func TestConsumerOffsetFetchEpochs(t *testing.T) {
	shard := &localShard{smr: NewStateMachine()}
	c := NewCoordinator(Config{}, shard, zerolog.Nop())
	defer c.Close()
	a := join(t, c, topicCounts{"t": 1}, "a", "t")
	id, other := "a", "b"
	for _, tc := range []struct {
		member *string
		epoch  int32
		want   int16
	}{
		{nil, -1, 0},
		{&id, a.Epoch, 0},
		{&id, a.Epoch - 1, kerr.StaleMemberEpoch.Code},
		{&id, a.Epoch + 1, kerr.FencedMemberEpoch.Code},
		{&other, a.Epoch, kerr.UnknownMemberID.Code},
	} {
		if got := c.ValidateOffsetFetch(context.Background(), 1, "cg", tc.member, tc.epoch); got != tc.want {
			t.Errorf("member %v epoch %d: code %d, want %d", tc.member, tc.epoch, got, tc.want)
		}
	}
}
