package meta

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
)

func spreadTopic(name string, partitions int32, rf int16, exclude ...uint64) Command {
	c := createTopicCmd(name, partitions, rf)
	c.CreateTopic.Placement = &Placement{Spread: true, Exclude: exclude}
	return c
}

// A broker that joins a cluster whose topics fill the others gets a share
// of every new RF=3 topic's replicas, and every replica set has distinct
// brokers.
func TestSpreadPlacementUsesAJoinedBroker(t *testing.T) {
	h := newHarness(t)
	h.registerBrokers(3)
	h.createTopic("old", 12, 3)
	h.registerBrokers(4)
	h.must(spreadTopic("new", 4, 3))
	held := map[uint64]int{}
	for _, p := range h.m.State().Topics["new"].Partitions {
		if len(p.Replicas) != 3 || len(slices.Compact(slices.Sorted(slices.Values(p.Replicas)))) != 3 {
			t.Fatalf("partition %d: replicas %v, want 3 distinct", p.Index, p.Replicas)
		}
		for _, r := range p.Replicas {
			held[r]++
		}
	}
	for id := uint64(1); id <= 4; id++ {
		if held[id] == 0 {
			t.Errorf("broker %d holds no replica of the new topic: %v", id, held)
		}
	}
	if held[4] < 3 {
		t.Errorf("the joined broker holds %d of the 12 new replicas, want at least 3 (it held none before)", held[4])
	}
}

// Excluded (down) brokers get no replica; a replication factor larger than
// the brokers left is refused.
func TestSpreadPlacementExcludesDownBrokers(t *testing.T) {
	h := newHarness(t)
	h.registerBrokers(5)
	h.must(spreadTopic("t", 20, 3, 2, 4))
	for _, p := range h.m.State().Topics["t"].Partitions {
		if slices.Contains(p.Replicas, 2) || slices.Contains(p.Replicas, 4) {
			t.Fatalf("partition %d placed on a down broker: %v", p.Index, p.Replicas)
		}
	}
	if res := h.apply(spreadTopic("u", 1, 3, 1, 2, 3)); res.Value != ErrInvalidReplication {
		t.Errorf("RF 3 with 2 live brokers: code %d (%s), want ErrInvalidReplication", res.Value, res.Data)
	}
	cp := Command{CreatePartitions: &CreatePartitions{Topic: "t", Count: 30, Placement: &Placement{Spread: true, Exclude: []uint64{1, 3}}}}
	h.must(cp)
	for _, p := range h.m.State().Topics["t"].Partitions[20:] {
		if slices.Contains(p.Replicas, 1) || slices.Contains(p.Replicas, 3) {
			t.Fatalf("new partition %d placed on a down broker: %v", p.Index, p.Replicas)
		}
	}
}

// With exactly as many brokers as the replication factor, spread places as
// the original rule did, and commands without a placement still use the
// original rule (an old log entry replays to the replica sets it made).
func TestSpreadMatchesLegacyWhenBrokersEqualRF(t *testing.T) {
	for _, n := range []int{1, 3, 5} {
		legacy, spread := newHarness(t), newHarness(t)
		legacy.registerBrokers(n)
		spread.registerBrokers(n)
		for i, parts := range []int32{7, 1, 12} {
			name := fmt.Sprintf("t%d", i)
			legacy.createTopic(name, parts, int16(n))
			spread.must(spreadTopic(name, parts, int16(n)))
		}
		for name, lt := range legacy.m.State().Topics {
			if st := spread.m.State().Topics[name]; !reflect.DeepEqual(lt.Partitions, st.Partitions) {
				t.Fatalf("%d brokers, topic %s: legacy %v, spread %v", n, name, lt.Partitions, st.Partitions)
			}
		}
	}
	h := newHarness(t)
	h.registerBrokers(4)
	h.createTopic("legacy", 4, 3)
	for _, p := range h.m.State().Topics["legacy"].Partitions {
		want := []uint64{p.Replicas[0], p.Replicas[0]%4 + 1, (p.Replicas[0]+1)%4 + 1}
		if !reflect.DeepEqual(p.Replicas, want) {
			t.Fatalf("legacy partition %d = %v, want the next brokers in id order %v", p.Index, p.Replicas, want)
		}
	}
}

// Replica sets a client assigns are used as given, the preferred leader
// first; a set naming an unregistered, draining or repeated broker, or of
// another length than the topic's replication factor, is refused whole.
func TestManualAssignment(t *testing.T) {
	h := newHarness(t)
	h.registerBrokers(4)
	c := createTopicCmd("t", 2, 2)
	c.CreateTopic.Placement = &Placement{Replicas: [][]uint64{{3, 1}, {4, 2}}}
	h.must(c)
	got := [][]uint64{}
	for _, p := range h.m.State().Topics["t"].Partitions {
		got = append(got, p.Replicas)
	}
	if !reflect.DeepEqual(got, [][]uint64{{3, 1}, {4, 2}}) {
		t.Fatalf("replicas %v, want the assignment [[3 1] [4 2]]", got)
	}
	h.must(Command{CreatePartitions: &CreatePartitions{Topic: "t", Count: 3, Placement: &Placement{Replicas: [][]uint64{{2, 3}}}}})
	if r := h.m.State().Topics["t"].Partitions[2].Replicas; !reflect.DeepEqual(r, []uint64{2, 3}) {
		t.Fatalf("added partition's replicas %v, want [2 3]", r)
	}
	h.must(Command{SetDraining: &SetDraining{Broker: 4, Draining: true}})
	for name, sets := range map[string][][]uint64{
		"unregistered": {{1, 9}},
		"twice":        {{1, 1}},
		"rf differs":   {{1, 2, 3}},
		"empty":        {{}},
		"draining":     {{1, 4}},
		"count":        {{1, 2}, {2, 3}},
	} {
		res := h.apply(Command{CreatePartitions: &CreatePartitions{Topic: "t", Count: 4, Placement: &Placement{Replicas: sets}}})
		if res.Value != ErrInvalidReplicaAssignment {
			t.Errorf("%s %v: code %d (%s), want ErrInvalidReplicaAssignment", name, sets, res.Value, res.Data)
		}
	}
	if n := len(h.m.State().Topics["t"].Partitions); n != 3 {
		t.Errorf("refused assignments changed the topic: %d partitions, want 3", n)
	}
}
