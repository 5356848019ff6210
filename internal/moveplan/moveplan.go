// Package moveplan plans partition moves for `longboat cluster
// remove-broker` and `longboat cluster rebalance`: which replica sets to
// ask for with AlterPartitionReassignments so that no replica stays on a
// broker leaving the cluster (draining or dead), every broker holds an
// even share of the replicas, and preferred leaders (the first replica)
// are spread as evenly. Plans are pure functions of the replica sets and
// the brokers that may hold replicas, so the same input gives the same
// plan.
package moveplan

import (
	"cmp"
	"fmt"
	"slices"
)

// Partition is one partition's current replica set; Replicas[0] is the
// preferred leader.
type Partition struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas"`
}

// Move is one partition's new replica set.
type Move struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	From      []int32 `json:"from"`
	To        []int32 `json:"to"`
}

// LeaderOnly tells whether the move only reorders the replicas (a new
// preferred leader), which moves no data.
func (m Move) LeaderOnly() bool {
	return len(m.From) == len(m.To) && len(minus(m.From, m.To)) == 0
}

// ErrCannotHold is a plan refused because the eligible brokers are fewer
// than a topic's replication factor.
type ErrCannotHold struct {
	Topic    string
	RF       int
	Eligible []int32
}

func (e *ErrCannotHold) Error() string {
	return fmt.Sprintf("topic %s has replication factor %d but only %d brokers may hold replicas (%v): add a broker first", e.Topic, e.RF, len(e.Eligible), e.Eligible)
}

// loads counts replicas and preferred leaderships per eligible broker.
type loads struct {
	replicas, leaders map[int32]int
	eligible          []int32
}

func newLoads(sets [][]int32, eligible []int32) *loads {
	l := &loads{replicas: map[int32]int{}, leaders: map[int32]int{}, eligible: eligible}
	for _, b := range eligible {
		l.replicas[b], l.leaders[b] = 0, 0
	}
	for _, set := range sets {
		l.add(set)
	}
	return l
}

func (l *loads) add(set []int32) {
	for i, b := range set {
		if _, ok := l.replicas[b]; ok {
			l.replicas[b]++
			if i == 0 {
				l.leaders[b]++
			}
		}
	}
}

// emptiest is the eligible broker outside set holding the fewest replicas
// (then, for a leader's slot, the fewest leaderships; then the lowest id).
func (l *loads) emptiest(set []int32, leaderSlot bool) int32 {
	best := int32(-1)
	for _, b := range l.eligible {
		if slices.Contains(set, b) {
			continue
		}
		if best < 0 || l.replicas[b] < l.replicas[best] ||
			(l.replicas[b] == l.replicas[best] && leaderSlot && l.leaders[b] < l.leaders[best]) {
			best = b
		}
	}
	return best
}

// plan is the replica sets being planned, in input order.
type plan struct {
	parts []Partition
	sets  [][]int32
}

func newPlan(parts []Partition) *plan {
	p := &plan{parts: slices.Clone(parts)}
	slices.SortFunc(p.parts, func(a, b Partition) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	for _, q := range p.parts {
		p.sets = append(p.sets, slices.Clone(q.Replicas))
	}
	return p
}

func (p *plan) moves() []Move {
	var out []Move
	for i, q := range p.parts {
		if !slices.Equal(q.Replicas, p.sets[i]) {
			out = append(out, Move{Topic: q.Topic, Partition: q.Partition, From: q.Replicas, To: p.sets[i]})
		}
	}
	return out
}

// evacuate replaces every replica on a leaving broker with the emptiest
// eligible broker the partition lacks, in the same position. Every
// topic's replication factor must fit in the eligible brokers.
func (p *plan) evacuate(leaving, eligible []int32) (*loads, error) {
	for _, q := range p.parts {
		if len(q.Replicas) > len(eligible) {
			return nil, &ErrCannotHold{Topic: q.Topic, RF: len(q.Replicas), Eligible: eligible}
		}
	}
	l := newLoads(p.sets, eligible)
	for i, set := range p.sets {
		for k, b := range set {
			if !slices.Contains(leaving, b) {
				continue
			}
			n := l.emptiest(set, k == 0)
			if n < 0 { // the set's other replicas fill the eligible brokers
				return nil, &ErrCannotHold{Topic: p.parts[i].Topic, RF: len(set), Eligible: eligible}
			}
			set[k] = n
			l.replicas[n]++
			if k == 0 {
				l.leaders[n]++
			}
		}
	}
	return l, nil
}

// Evacuate moves every replica off the leaving brokers: each goes to the
// eligible broker the partition lacks that holds the fewest replicas. It
// moves nothing else. It refuses (ErrCannotHold) when a topic's
// replication factor exceeds the eligible brokers.
func Evacuate(parts []Partition, leaving, eligible []int32) ([]Move, error) {
	p := newPlan(parts)
	if _, err := p.evacuate(leaving, eligible); err != nil {
		return nil, err
	}
	return p.moves(), nil
}

// Rebalance evacuates every broker outside eligible (dead or draining) as
// Evacuate does, then moves replicas from the fullest eligible broker to
// the emptiest until their counts differ by at most one, then reorders
// replica sets until preferred leaderships differ by at most one wherever
// reorderings can get there (an RF=1 partition's leader moves only with
// its data, which a rebalance does not do for leadership alone).
func Rebalance(parts []Partition, eligible []int32) ([]Move, error) {
	p := newPlan(parts)
	var leaving []int32
	for _, set := range p.sets {
		for _, b := range set {
			if !slices.Contains(eligible, b) && !slices.Contains(leaving, b) {
				leaving = append(leaving, b)
			}
		}
	}
	l, err := p.evacuate(leaving, eligible)
	if err != nil {
		return nil, err
	}
	extreme := func(m map[int32]int, most bool) int32 {
		best := l.eligible[0]
		for _, b := range l.eligible[1:] {
			if (most && m[b] > m[best]) || (!most && m[b] < m[best]) {
				best = b
			}
		}
		return best
	}
	// Replica counts: with hi holding more replicas than lo, some
	// partition holds hi and not lo; each step lowers the spread.
	for {
		hi, lo := extreme(l.replicas, true), extreme(l.replicas, false)
		if l.replicas[hi]-l.replicas[lo] <= 1 {
			break
		}
		for _, set := range p.sets {
			if k := slices.Index(set, hi); k >= 0 && !slices.Contains(set, lo) {
				set[k] = lo
				l.replicas[hi]--
				l.replicas[lo]++
				if k == 0 {
					l.leaders[hi]--
					l.leaders[lo]++
				}
				break
			}
		}
	}
	// Preferred leaders: only reorderings, no data moves. While some
	// broker is preferred by two or more partitions more than another that
	// it can reach through a chain of "leads a partition that has as a
	// follower", shift one preference along the chain: the first broker
	// loses one, the last gains one, those between keep theirs. Each shift
	// lowers the sum of squares, so this ends.
	for moved := true; moved; {
		moved = p.shiftLeadership(l)
	}
	return p.moves(), nil
}

// shiftLeadership makes one shift of a preferred leadership along the
// shortest chain from the most preferred broker that has one, and says
// whether it found any.
func (p *plan) shiftLeadership(l *loads) bool {
	byLeaders := slices.Clone(l.eligible)
	slices.SortStableFunc(byLeaders, func(a, b int32) int { return l.leaders[b] - l.leaders[a] })
	type hop struct {
		from int32
		set  int // the set led by from, with the next broker as a follower
	}
	for _, src := range byLeaders {
		prev := map[int32]hop{src: {from: -1}}
		queue := []int32{src}
		for len(queue) > 0 {
			a := queue[0]
			queue = queue[1:]
			for i, set := range p.sets {
				if set[0] != a {
					continue
				}
				for _, b := range set[1:] {
					if _, seen := prev[b]; seen {
						continue
					}
					prev[b] = hop{from: a, set: i}
					if l.leaders[b] <= l.leaders[src]-2 {
						for at := b; at != src; at = prev[at].from {
							h := prev[at]
							set := p.sets[h.set]
							k := slices.Index(set, at)
							set[0], set[k] = set[k], set[0]
						}
						l.leaders[src]--
						l.leaders[b]++
						return true
					}
					queue = append(queue, b)
				}
			}
		}
	}
	return false
}

func minus(a, b []int32) []int32 {
	var out []int32
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
