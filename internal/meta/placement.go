package meta

import (
	"fmt"
	"slices"
)

// Placement says how a command that creates shards picks their replica
// sets. A command without one (nil) is placed as before it existed, so
// that replaying an old log entry gives the replica sets it gave then.
type Placement struct {
	// Spread: followers go to the eligible brokers holding the fewest
	// replicas, not simply the next ones in id order, so a broker that
	// joined gets its share.
	Spread bool `json:"spread,omitempty"`
	// Exclude are brokers the proposer found down: none of the new
	// replicas goes to them. Draining brokers (State.Draining) get none
	// either.
	Exclude []uint64 `json:"exclude,omitempty"`
	// Replicas are the replica sets a client gave (CreateTopics and
	// CreatePartitions with a manual assignment), one per new shard, the
	// preferred leader first. When set, Spread and Exclude do not apply:
	// the sets are checked (CheckAssignment) and used as given.
	Replicas [][]uint64 `json:"replicas,omitempty"`
}

// placeWith picks replica sets for n new shards of replication factor rf,
// or explains why it cannot (ErrInvalidReplication).
func (s *State) placeWith(p *Placement, n, rf int) ([][]uint64, int, string) {
	if p != nil && len(p.Replicas) > 0 {
		if len(p.Replicas) != n {
			return nil, ErrInvalidReplicaAssignment, fmt.Sprintf("%d new partitions but %d replica assignments", n, len(p.Replicas))
		}
		if code, msg := s.CheckAssignment(p.Replicas, rf); code != ErrNone {
			return nil, code, msg
		}
		sets := make([][]uint64, n)
		for i, set := range p.Replicas {
			sets[i] = slices.Clone(set)
		}
		return sets, ErrNone, ""
	}
	if p == nil {
		if rf < 1 || rf > len(s.Brokers) {
			return nil, ErrInvalidReplication, fmt.Sprintf("replication factor %d: must be 1..%d (registered brokers)", rf, len(s.Brokers))
		}
		return s.place(n, rf), ErrNone, ""
	}
	var eligible []uint64
	for _, id := range s.BrokerIDs() {
		if !slices.Contains(p.Exclude, id) && !s.IsDraining(id) {
			eligible = append(eligible, id)
		}
	}
	if rf < 1 || rf > len(eligible) {
		return nil, ErrInvalidReplication, fmt.Sprintf("replication factor %d: must be 1..%d (registered brokers %d, of which down: %v, draining: %v)", rf, len(eligible), len(s.Brokers), p.Exclude, s.Draining)
	}
	return s.spread(eligible, n, rf), ErrNone, ""
}

// CheckAssignment checks replica sets a client assigned to new partitions,
// as Kafka does: every set rf long, brokers registered and listed once. A
// draining broker gets no new replica, as in a reassignment.
func (s *State) CheckAssignment(sets [][]uint64, rf int) (int, string) {
	for i, set := range sets {
		switch {
		case len(set) == 0:
			return ErrInvalidReplicaAssignment, fmt.Sprintf("assignment %d has an empty replica list", i)
		case len(set) != rf:
			return ErrInvalidReplicaAssignment, fmt.Sprintf("assignment %d has %d replicas; every partition of the topic must have %d", i, len(set), rf)
		}
		for k, r := range set {
			switch {
			case s.Brokers[r] == nil:
				return ErrInvalidReplicaAssignment, fmt.Sprintf("assignment %d names broker %d, which is not registered", i, r)
			case slices.Contains(set[:k], r):
				return ErrInvalidReplicaAssignment, fmt.Sprintf("assignment %d lists broker %d twice", i, r)
			case s.IsDraining(r):
				return ErrInvalidReplicaAssignment, fmt.Sprintf("assignment %d names broker %d, which is draining: no new replica goes to it", i, r)
			}
		}
	}
	return ErrNone, ""
}

// spread places over eligible (ascending ids): each shard's preferred
// leader is the broker preferred by the fewest shards (then holding the
// fewest replicas, then the lowest id), as place does; its followers are
// the rf-1 other brokers holding the fewest replicas, ties going to the
// next ones after the leader in id order, and they are listed in that
// order. With exactly rf eligible brokers this is place's answer.
func (s *State) spread(eligible []uint64, n, rf int) [][]uint64 {
	leaders, replicas := s.loads()
	out := make([][]uint64, 0, n)
	for i := 0; i < n; i++ {
		best := preferredLeader(eligible, leaders, replicas)
		// The others in ring order after the leader, then the least
		// loaded first (a stable sort keeps ring order among equals).
		ring := make([]int, 0, len(eligible)-1)
		for k := 1; k < len(eligible); k++ {
			ring = append(ring, (best+k)%len(eligible))
		}
		byLoad := slices.Clone(ring)
		slices.SortStableFunc(byLoad, func(a, b int) int { return replicas[eligible[a]] - replicas[eligible[b]] })
		chosen := map[int]bool{}
		for _, k := range byLoad[:rf-1] {
			chosen[k] = true
		}
		set := []uint64{eligible[best]}
		for _, k := range ring {
			if chosen[k] {
				set = append(set, eligible[k])
			}
		}
		leaders[set[0]]++
		for _, r := range set {
			replicas[r]++
		}
		out = append(out, set)
	}
	return out
}

// preferredLeader is the index in ids (ascending) of the broker preferred
// by the fewest shards, then holding the fewest replicas, then the first.
func preferredLeader(ids []uint64, leaders, replicas map[uint64]int) int {
	best := 0
	for j := 1; j < len(ids); j++ {
		a, b := ids[j], ids[best]
		if leaders[a] < leaders[b] || (leaders[a] == leaders[b] && replicas[a] < replicas[b]) {
			best = j
		}
	}
	return best
}

// loads counts each broker's preferred leaderships and replicas over the
// topics' partitions.
func (s *State) loads() (leaders, replicas map[uint64]int) {
	leaders, replicas = map[uint64]int{}, map[uint64]int{}
	for _, t := range s.Topics {
		for _, p := range t.Partitions {
			if len(p.Replicas) > 0 {
				leaders[p.Replicas[0]]++
			}
			for _, r := range p.Replicas {
				replicas[r]++
			}
		}
	}
	return leaders, replicas
}
