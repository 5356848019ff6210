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
