package group

import (
	"testing"

	"github.com/rs/zerolog"
)

// TestConsumerReloadKeepsUnreleased: a member waiting for partitions
// another member still revokes keeps waiting across a reload of the group
// in a new term, and gets them once released (the reconciliation state
// is not stored: a reload that called it stable left it without them).
func TestConsumerReloadKeepsUnreleased(t *testing.T) {
	s := newTermShard()
	c := NewCoordinator(Config{}, s, zerolog.Nop())
	defer c.Close()
	topics := topicCounts{"t": 4}

	join(t, c, topics, "a", "t")
	b := join(t, c, topics, "b", "t")
	a := hb(t, c, topics, ConsumerHeartbeat{MemberID: "a", MemberEpoch: 1, Owned: Assignment{"t": {0, 1, 2, 3}}})
	if a.Assignment.count() != 2 || b.Assignment.count() != 0 {
		t.Fatalf("a keeps %v, b has %v; want 2 and none", a.Assignment, b.Assignment)
	}
	s.term.Add(1)
	if d, code := c.DescribeConsumerGroup(t.Context(), 1, "cg"); code != 0 || d.State != ConsumerStateReconciling {
		t.Fatalf("after a reload: code %d, state %s; want Reconciling", code, d.State)
	}
	a = hb(t, c, topics, ConsumerHeartbeat{MemberID: "a", MemberEpoch: 1, Owned: a.Assignment})
	b = hb(t, c, topics, ConsumerHeartbeat{MemberID: "b", MemberEpoch: b.Epoch, Owned: Assignment{}})
	if a.Code != 0 || b.Code != 0 || b.Assignment.count() != 2 {
		t.Fatalf("after a released: a %+v, b %+v; want b with 2 partitions", a, b)
	}
}

// TestConsumerRangeStaticOrder: the range assignor orders static members
// by instance id before dynamic ones, as Kafka's, so a rolling restart
// (every member id new, instances the same) gives each instance the same
// ranges.
func TestConsumerRangeStaticOrder(t *testing.T) {
	topics := map[string]int32{"t": 6}
	sub := func(id, instance string) subscriber {
		return subscriber{id: id, instance: instance, topics: map[string]bool{"t": true}}
	}
	before := assign(AssignorRange, []subscriber{sub("m1", "i-b"), sub("m2", "i-a"), sub("m0", "")}, topics, nil)
	after := assign(AssignorRange, []subscriber{sub("z9", "i-b"), sub("a1", "i-a"), sub("m0", "")}, topics, nil)
	for _, tc := range []struct{ old, new string }{{"m1", "z9"}, {"m2", "a1"}, {"m0", "m0"}} {
		if !before[tc.old].equal(after[tc.new]) {
			t.Fatalf("instance of %s had %v, after the restart %v", tc.old, before[tc.old], after[tc.new])
		}
	}
	if want := (Assignment{"t": {0, 1}}); !before["m2"].equal(want) {
		t.Fatalf("i-a (first by instance id) got %v, want %v", before["m2"], want)
	}
}
