package meta

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
)

func reassignCmd(topic string, p int32, replicas ...uint64) Command {
	return Command{Reassign: &Reassign{Topic: topic, Partition: p, Replicas: replicas, StartedMs: 1}}
}

func stepCmd(shard uint64, s ReassignStep) Command {
	s.ShardID = shard
	return Command{ReassignStep: &s}
}

// replicasOf is partition 0's replica set of topic.
func (h *harness) replicasOf(topic string) Partition {
	h.t.Helper()
	return h.m.State().Topics[topic].Partitions[0]
}

// A move from [1 2 3] to [4 2 3]: Metadata's replicas are the target then
// the replica leaving; steps already recorded change nothing; the last
// removal completes it with the target's order, and broker 1 can never be
// the shard's replica again.
func TestReassignStepsAndCompletion(t *testing.T) {
	h := newHarness(t)
	h.registerBrokers(4)
	h.createTopic("t", 1, 3)
	p := h.replicasOf("t")
	if !reflect.DeepEqual(p.Replicas, []uint64{1, 2, 3}) {
		t.Fatalf("placement %v, want [1 2 3]", p.Replicas)
	}
	h.must(reassignCmd("t", 0, 4, 2, 3))
	if got := h.replicasOf("t").Replicas; !reflect.DeepEqual(got, []uint64{4, 2, 3, 1}) {
		t.Fatalf("replicas during the move %v, want [4 2 3 1]", got)
	}
	move, ok := h.m.State().Reassignment(p.ShardID)
	if !ok || !reflect.DeepEqual(move.Adding(), []uint64{4}) || !reflect.DeepEqual(move.Removing(), []uint64{1}) || !move.JoinsNonVoting(4) || move.JoinsNonVoting(2) {
		t.Fatalf("record %+v", move)
	}
	h.must(reassignCmd("t", 0, 4, 2, 3)) // a retried proposal
	if res := h.apply(reassignCmd("t", 0, 2, 3)); res.Value != ErrReassignmentInProgress {
		t.Fatalf("second move: code %d, want REASSIGNMENT_IN_PROGRESS", res.Value)
	}
	// Removing before promoting leaves a replica set without the target
	// complete; the record stays.
	h.must(stepCmd(p.ShardID, ReassignStep{Promoted: 4}))
	h.must(stepCmd(p.ShardID, ReassignStep{Promoted: 4}))
	if move, _ := h.m.State().Reassignment(p.ShardID); move.JoinsNonVoting(4) || len(move.Promoted) != 1 {
		t.Fatalf("after promotion: %+v", move)
	}
	if res := h.apply(Command{Reassign: &Reassign{Topic: "t", Partition: 0, Cancel: true}}); res.Value != ErrNone {
		t.Fatalf("cancel before any removal: code %d (%s)", res.Value, res.Data)
	}
	// The cancel set the target back; undo it for this test by completing
	// the rollback: 4 leaves, nothing else.
	h.must(stepCmd(p.ShardID, ReassignStep{Removed: 4}))
	if _, moving := h.m.State().Reassignment(p.ShardID); moving {
		t.Fatal("rollback not completed after the added replica left")
	}
	got := h.replicasOf("t")
	if !reflect.DeepEqual(got.Replicas, []uint64{1, 2, 3}) || !reflect.DeepEqual(got.Removed, []uint64{4}) {
		t.Fatalf("after rollback: %+v, want replicas [1 2 3], removed [4]", got)
	}
	if res := h.apply(reassignCmd("t", 0, 4, 2, 3)); res.Value != ErrInvalidReplicaAssignment {
		t.Fatalf("moving onto a removed replica: code %d, want INVALID_REPLICA_ASSIGNMENT", res.Value)
	}

	// A move that runs to its end.
	h.must(reassignCmd("t", 0, 2, 3))
	if got := h.replicasOf("t").Replicas; !reflect.DeepEqual(got, []uint64{2, 3, 1}) {
		t.Fatalf("shrink: replicas %v, want [2 3 1]", got)
	}
	if res := h.apply(Command{Reassign: &Reassign{Topic: "t", Partition: 0, Cancel: true}}); res.Value != ErrNone {
		t.Fatalf("cancel: %d", res.Value)
	}
	h.must(stepCmd(p.ShardID, ReassignStep{Removed: 1})) // 1 is in the target again: ignored
	if _, moving := h.m.State().Reassignment(p.ShardID); moving {
		t.Fatal("a cancelled shrink with nothing removed must be complete")
	}
	h.must(reassignCmd("t", 0, 2, 3))
	h.must(stepCmd(p.ShardID, ReassignStep{Removed: 1}))
	if res := h.apply(Command{Reassign: &Reassign{Topic: "t", Partition: 0, Cancel: true}}); res.Value != ErrNoReassignmentInProgress {
		t.Fatalf("cancel after completion: code %d, want NO_REASSIGNMENT_IN_PROGRESS", res.Value)
	}
	if got := h.replicasOf("t"); !reflect.DeepEqual(got.Replicas, []uint64{2, 3}) || !reflect.DeepEqual(got.Removed, []uint64{4, 1}) {
		t.Fatalf("after shrink: %+v", got)
	}
	h.must(stepCmd(p.ShardID, ReassignStep{Removed: 2})) // no move: a late retry changes nothing
	if got := h.replicasOf("t").Replicas; !reflect.DeepEqual(got, []uint64{2, 3}) {
		t.Fatalf("late step changed replicas to %v", got)
	}
}

// A cancel after an original replica was removed is refused (Raft would
// not take it back); a reorder changes the preferred leader at once; a
// move's record survives a snapshot and goes with its topic.
func TestReassignRefusalsSnapshotAndDelete(t *testing.T) {
	h := newHarness(t)
	h.registerBrokers(5)
	h.createTopic("t", 1, 3)
	p := h.replicasOf("t")
	for _, bad := range [][]uint64{{}, {1, 1, 2}, {1, 2, 9}} {
		if res := h.apply(reassignCmd("t", 0, bad...)); res.Value != ErrInvalidReplicaAssignment {
			t.Errorf("target %v: code %d, want INVALID_REPLICA_ASSIGNMENT", bad, res.Value)
		}
	}
	if res := h.apply(reassignCmd("none", 0, 1, 2, 3)); res.Value != ErrUnknownTopic {
		t.Errorf("unknown topic: code %d", res.Value)
	}
	if res := h.apply(Command{Reassign: &Reassign{Topic: "t", Partition: 0, Cancel: true}}); res.Value != ErrNoReassignmentInProgress {
		t.Errorf("cancel without a move: code %d", res.Value)
	}
	h.must(reassignCmd("t", 0, 3, 2, 1))
	if _, moving := h.m.State().Reassignment(p.ShardID); moving || !reflect.DeepEqual(h.replicasOf("t").Replicas, []uint64{3, 2, 1}) {
		t.Fatalf("reorder: %v", h.replicasOf("t").Replicas)
	}
	h.must(reassignCmd("t", 0, 4, 5, 1))
	h.must(stepCmd(p.ShardID, ReassignStep{Promoted: 4}))
	h.must(stepCmd(p.ShardID, ReassignStep{Promoted: 5}))
	h.must(stepCmd(p.ShardID, ReassignStep{Removed: 3}))
	if res := h.apply(Command{Reassign: &Reassign{Topic: "t", Partition: 0, Cancel: true}}); res.Value != ErrReassignmentInProgress {
		t.Fatalf("cancel after a removal: code %d, want REASSIGNMENT_IN_PROGRESS", res.Value)
	}
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
	if !bytes.Equal(a, b) {
		t.Fatalf("snapshot changed the state:\n%s\n%s", a, b)
	}
	if move, ok := r.State().Reassignment(p.ShardID); !ok || !reflect.DeepEqual(move.Promoted, []uint64{4, 5}) {
		t.Fatalf("restored record %+v", move)
	}
	name := "t"
	h.must(Command{DeleteTopic: &name})
	if len(h.m.State().Reassignments) != 0 {
		t.Fatal("a deleted topic's move is still recorded")
	}
}

// A group shard moves as partition i of __consumer_offsets: the same
// record and steps change GroupShards[i] and leave the other group shards
// and the topics alone.
func TestReassignGroupShard(t *testing.T) {
	h := newHarness(t)
	h.registerBrokers(4)
	h.must(Command{EnsureGroupShards: &EnsureGroupShards{Count: 2, ReplicationFactor: 3}})
	before := h.m.State().GroupShards
	g := before[1]
	orig := slices.Clone(g.Replicas)
	spare := minus([]uint64{1, 2, 3, 4}, g.Replicas)[0]
	target := append([]uint64{spare}, g.Replicas[1:]...)
	h.must(reassignCmd(GroupShardsTopic, 1, target...))
	ref, ok := h.m.State().ReplicaSet(g.ShardID)
	if !ok || ref.Topic != GroupShardsTopic || !reflect.DeepEqual(ref.Partition.Replicas, append(slices.Clone(target), g.Replicas[0])) {
		t.Fatalf("group shard during the move: %+v %v, want replicas %v then %d", ref, ok, target, g.Replicas[0])
	}
	if !reflect.DeepEqual(before[1].Replicas, orig) {
		t.Fatal("the move changed a published GroupShards slice")
	}
	h.must(stepCmd(g.ShardID, ReassignStep{Promoted: spare}))
	h.must(stepCmd(g.ShardID, ReassignStep{Removed: g.Replicas[0]}))
	st := h.m.State()
	if _, moving := st.Reassignment(g.ShardID); moving {
		t.Fatal("move not completed")
	}
	if got := st.GroupShards[1]; !reflect.DeepEqual(got.Replicas, target) || !reflect.DeepEqual(got.Removed, []uint64{g.Replicas[0]}) {
		t.Fatalf("after the move: %+v, want replicas %v removed [%d]", got, target, g.Replicas[0])
	}
	if !reflect.DeepEqual(st.GroupShards[0], before[0]) {
		t.Fatalf("the other group shard changed: %+v", st.GroupShards[0])
	}
	if res := h.apply(reassignCmd(GroupShardsTopic, 2, 1, 2, 3)); res.Value != ErrUnknownTopic {
		t.Fatalf("a group shard that does not exist: code %d, want UNKNOWN_TOPIC_OR_PARTITION", res.Value)
	}
}
