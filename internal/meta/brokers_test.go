package meta

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func drainCmd(id uint64, on bool) Command {
	return Command{SetDraining: &SetDraining{Broker: id, Draining: on}}
}

func removeCmd(id uint64) Command { return Command{RemoveBroker: &id} }

// A draining broker gets no new replica (topics, partitions, group shards,
// reassignments bringing it in); a broker still holding a replica cannot be
// removed; a removed broker's id never registers again, and all of it
// survives a snapshot.
func TestDrainingAndRemoveBroker(t *testing.T) {
	h := newHarness(t)
	h.registerBrokers(4)
	h.must(spreadTopic("t", 8, 3))
	h.must(drainCmd(4, true))
	h.must(drainCmd(4, true)) // a retry
	if !h.m.State().IsDraining(4) {
		t.Fatal("broker 4 not draining")
	}
	h.must(spreadTopic("u", 12, 3))
	h.must(Command{CreatePartitions: &CreatePartitions{Topic: "t", Count: 12, Placement: &Placement{Spread: true}}})
	h.must(Command{EnsureGroupShards: &EnsureGroupShards{Count: 6, ReplicationFactor: 3, Placement: &Placement{Spread: true}}})
	st := h.m.State()
	for _, p := range append(append(st.Topics["u"].Partitions, st.Topics["t"].Partitions[8:]...), st.GroupShards...) {
		if slices.Contains(p.Replicas, 4) {
			t.Fatalf("shard %d placed on draining broker 4: %v", p.ShardID, p.Replicas)
		}
	}
	if res := h.apply(spreadTopic("v", 1, 4)); res.Value != ErrInvalidReplication || !strings.Contains(string(res.Data), "draining: [4]") {
		t.Fatalf("RF 4 with broker 4 draining: code %d (%s), want ErrInvalidReplication naming the draining broker", res.Value, res.Data)
	}
	// A move may not bring a draining broker in.
	var on4, off4 Partition
	for _, p := range st.Topics["t"].Partitions[:8] {
		if slices.Contains(p.Replicas, 4) {
			on4 = p
		} else {
			off4 = p
		}
	}
	if res := h.apply(reassignCmd("t", off4.Index, 4, off4.Replicas[0], off4.Replicas[1])); res.Value != ErrInvalidReplicaAssignment {
		t.Fatalf("move onto a draining broker: code %d (%s)", res.Value, res.Data)
	}
	if res := h.apply(removeCmd(4)); res.Value != ErrInvalidRequest || !strings.Contains(string(res.Data), "still holds replicas") {
		t.Fatalf("removing a broker that holds replicas: code %d (%s)", res.Value, res.Data)
	}

	// Move every replica off broker 4 (the shard's steps, as the leader
	// records them), then remove it.
	for _, p := range h.m.State().Topics["t"].Partitions {
		if !slices.Contains(p.Replicas, 4) {
			continue
		}
		var spare uint64
		for id := uint64(1); id <= 3; id++ {
			if !slices.Contains(p.Replicas, id) {
				spare = id
			}
		}
		target := slices.Clone(p.Replicas)
		target[slices.Index(target, 4)] = spare
		h.must(reassignCmd("t", p.Index, target...))
		h.must(stepCmd(p.ShardID, ReassignStep{Promoted: spare}))
		h.must(stepCmd(p.ShardID, ReassignStep{Removed: 4}))
	}
	if on4.ShardID == 0 || len(h.m.State().Reassignments) != 0 {
		t.Fatalf("moves left: %v (a partition on 4: %v)", h.m.State().Reassignments, on4)
	}
	h.must(removeCmd(4))
	h.must(removeCmd(4)) // a retry
	st = h.m.State()
	if _, ok := st.Brokers[4]; ok || st.IsDraining(4) || !slices.Equal(st.RemovedBrokers, []uint64{4}) {
		t.Fatalf("after removal: registered %v, draining %v, removed %v", st.BrokerIDs(), st.Draining, st.RemovedBrokers)
	}
	if res := h.apply(Command{RegisterBroker: &Broker{ID: 4, RaftAddr: "x:1"}}); res.Value != ErrInvalidRequest {
		t.Fatalf("a removed broker registered again: code %d", res.Value)
	}
	if res := h.apply(drainCmd(9, true)); res.Value != ErrInvalidRequest {
		t.Fatalf("draining an unknown broker: code %d", res.Value)
	}
	h.must(drainCmd(3, true))
	h.must(drainCmd(3, false))
	h.must(drainCmd(2, true))

	var buf bytes.Buffer
	if err := h.m.SaveSnapshot(&buf, nil, nil); err != nil {
		t.Fatal(err)
	}
	r := New()
	if err := r.RecoverFromSnapshot(&buf, nil, nil); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(h.m.State())
	b, _ := json.Marshal(r.State())
	if !bytes.Equal(a, b) || !slices.Equal(r.State().Draining, []uint64{2}) {
		t.Fatalf("snapshot changed the state:\n%s\n%s", a, b)
	}
}
