package moveplan

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// ring places n partitions of rf replicas over brokers, leaders in turn.
func ring(topic string, n, rf int, brokers []int32) []Partition {
	var out []Partition
	for i := range n {
		var set []int32
		for k := range rf {
			set = append(set, brokers[(i+k)%len(brokers)])
		}
		out = append(out, Partition{Topic: topic, Partition: int32(i), Replicas: set})
	}
	return out
}

// apply returns parts with moves applied, checking each move keeps the
// replication factor with distinct brokers.
func apply(t *testing.T, parts []Partition, moves []Move) []Partition {
	t.Helper()
	out := slices.Clone(parts)
	for _, m := range moves {
		if len(m.To) != len(m.From) || len(slices.Compact(slices.Sorted(slices.Values(m.To)))) != len(m.To) {
			t.Fatalf("%s/%d: %v -> %v changes the replication factor or repeats a broker", m.Topic, m.Partition, m.From, m.To)
		}
		i := slices.IndexFunc(out, func(p Partition) bool { return p.Topic == m.Topic && p.Partition == m.Partition })
		if i < 0 || !slices.Equal(out[i].Replicas, m.From) {
			t.Fatalf("move %+v does not start from the partition's replicas", m)
		}
		out[i].Replicas = m.To
	}
	return out
}

func counts(parts []Partition) (replicas, leaders map[int32]int) {
	replicas, leaders = map[int32]int{}, map[int32]int{}
	for _, p := range parts {
		leaders[p.Replicas[0]]++
		for _, r := range p.Replicas {
			replicas[r]++
		}
	}
	return replicas, leaders
}

func spreadOf(m map[int32]int, brokers []int32) int {
	lo, hi := m[brokers[0]], m[brokers[0]]
	for _, b := range brokers {
		lo, hi = min(lo, m[b]), max(hi, m[b])
	}
	return hi - lo
}

// Evacuating broker 4 moves exactly the partitions on it, to the emptiest
// brokers (the new broker 5 first, until it is as full as the others),
// and no others.
func TestEvacuateMovesOnlyWhatIsOnTheBroker(t *testing.T) {
	parts := append(ring("a", 8, 3, []int32{1, 2, 3, 4}), ring("b", 3, 1, []int32{4, 1, 2})...)
	eligible := []int32{1, 2, 3, 5}
	moves, err := Evacuate(parts, []int32{4}, eligible)
	if err != nil {
		t.Fatal(err)
	}
	on4 := 0
	for _, p := range parts {
		if slices.Contains(p.Replicas, 4) {
			on4++
		}
	}
	if len(moves) != on4 {
		t.Fatalf("%d moves for %d partitions on broker 4: %+v", len(moves), on4, moves)
	}
	after := apply(t, parts, moves)
	replicas, _ := counts(after)
	if replicas[4] != 0 {
		t.Fatalf("broker 4 still holds %d replicas", replicas[4])
	}
	if s := spreadOf(replicas, eligible); s > 1 || replicas[5] < on4-1 {
		t.Errorf("replicas per broker after the evacuation %v: the empty broker 5 must take nearly all %d", replicas, on4)
	}
	for _, m := range moves {
		for k := range m.From {
			if m.From[k] != 4 && m.From[k] != m.To[k] {
				t.Errorf("%s/%d: %v -> %v moves a replica not on broker 4", m.Topic, m.Partition, m.From, m.To)
			}
		}
	}
}

// A replication factor the eligible brokers cannot hold is refused before
// any plan.
func TestEvacuateRefusesWhenTheRestCannotHoldRF(t *testing.T) {
	parts := append(ring("small", 2, 2, []int32{1, 2, 3}), ring("wide", 2, 3, []int32{1, 2, 3})...)
	_, err := Evacuate(parts, []int32{3}, []int32{1, 2})
	var ch *ErrCannotHold
	if !errors.As(err, &ch) || ch.Topic != "wide" || ch.RF != 3 {
		t.Fatalf("Evacuate to 2 brokers with an RF=3 topic: %v", err)
	}
	if _, err := Rebalance(parts, []int32{1, 2}); !errors.As(err, &ch) {
		t.Fatalf("Rebalance to 2 brokers with an RF=3 topic: %v", err)
	}
}

// After brokers join, a rebalance evens replicas and preferred leaders
// over every eligible broker and takes replicas off an ineligible one;
// rebalancing its result plans nothing.
func TestRebalanceEvensReplicasAndLeaders(t *testing.T) {
	for _, tc := range []struct {
		parts    []Partition
		eligible []int32
	}{
		{append(ring("a", 12, 3, []int32{1, 2, 3}), ring("b", 5, 2, []int32{1, 2, 3})...), []int32{1, 2, 3, 4, 5}},
		{ring("a", 7, 3, []int32{1, 2, 3, 4}), []int32{1, 2, 3, 5}},
		{ring("a", 30, 1, []int32{1}), []int32{1, 2, 3}},
	} {
		t.Run(fmt.Sprint(tc.eligible), func(t *testing.T) {
			moves, err := Rebalance(tc.parts, tc.eligible)
			if err != nil {
				t.Fatal(err)
			}
			after := apply(t, tc.parts, moves)
			replicas, leaders := counts(after)
			for b := range replicas {
				if !slices.Contains(tc.eligible, b) {
					t.Fatalf("broker %d is not eligible but holds %d replicas", b, replicas[b])
				}
			}
			if s := spreadOf(replicas, tc.eligible); s > 1 {
				t.Errorf("replicas per broker %v (spread %d)", replicas, s)
			}
			if s := spreadOf(leaders, tc.eligible); s > 1 {
				t.Errorf("preferred leaders per broker %v (spread %d)", leaders, s)
			}
			if again, _ := Rebalance(after, tc.eligible); len(again) != 0 {
				t.Errorf("rebalancing a balanced cluster plans %d moves: %+v", len(again), again)
			}
		})
	}
}

// Only the leaving broker's replicas move: a replica on a broker that is
// merely down (not eligible for new replicas) stays where it is.
func TestEvacuateLeavesOtherBrokersAlone(t *testing.T) {
	parts := []Partition{{"a", 0, []int32{3, 4, 1}}, {"a", 1, []int32{4, 1, 2}}, {"a", 2, []int32{1, 2, 3}}}
	moves, err := Evacuate(parts, []int32{4}, []int32{1, 2, 5})
	if err != nil {
		t.Fatal(err)
	}
	want := []Move{{"a", 0, []int32{3, 4, 1}, []int32{3, 5, 1}}, {"a", 1, []int32{4, 1, 2}, []int32{5, 1, 2}}}
	if fmt.Sprint(moves) != fmt.Sprint(want) {
		t.Fatalf("moves %v, want %v", moves, want)
	}
}

// Rebalancing random placements (brokers joining and leaving, RF 2 and
// 3) always ends with replica and preferred-leader
// counts within one of each other.
func TestRebalanceRandomPlacements(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 1000 {
		brokers := []int32{}
		for b := int32(1); b <= int32(3+rng.IntN(5)); b++ {
			brokers = append(brokers, b)
		}
		var parts []Partition
		for p := range 1 + rng.IntN(40) {
			rf := 2 + rng.IntN(2)
			set := []int32{}
			for _, i := range rng.Perm(len(brokers))[:rf] {
				set = append(set, brokers[i])
			}
			parts = append(parts, Partition{Topic: "t", Partition: int32(p), Replicas: set})
		}
		eligible := brokers
		if len(brokers) > 3 && rng.IntN(2) == 0 {
			eligible = brokers[1:] // broker 1 leaves
		}
		moves, err := Rebalance(parts, eligible)
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		replicas, leaders := counts(apply(t, parts, moves))
		if spreadOf(replicas, eligible) > 1 || spreadOf(leaders, eligible) > 1 || replicas[1] > 0 && eligible[0] != 1 {
			t.Fatalf("trial %d: replicas %v, leaders %v over %v", trial, replicas, leaders, eligible)
		}
	}
}
