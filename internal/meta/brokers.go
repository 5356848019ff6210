package meta

import (
	"fmt"
	"slices"
)

// SetDraining marks a broker draining (remove-broker is moving its
// replicas away) or takes the mark back. New replicas, of new topics,
// partitions, group shards or reassignments, never go to a draining broker.
type SetDraining struct {
	Broker   uint64 `json:"broker"`
	Draining bool   `json:"draining"`
}

// IsDraining tells whether broker id is draining.
func (s *State) IsDraining(id uint64) bool { return slices.Contains(s.Draining, id) }

func (s *State) setDraining(c *SetDraining) (int, []byte) {
	if _, ok := s.Brokers[c.Broker]; !ok {
		return ErrInvalidRequest, []byte(fmt.Sprintf("broker %d is not registered", c.Broker))
	}
	if c.Draining == s.IsDraining(c.Broker) {
		return ErrNone, nil
	}
	if c.Draining {
		d := append(slices.Clone(s.Draining), c.Broker)
		slices.Sort(d)
		s.Draining = d
	} else {
		s.Draining = minus(s.Draining, []uint64{c.Broker})
	}
	return ErrNone, nil
}

// HeldBy describes what still holds broker id in __meta: the partitions
// and group shards with a replica on it, and the moves naming it. Empty
// when the broker can be removed.
func (s *State) HeldBy(id uint64) []string {
	var out []string
	for _, name := range s.TopicNames() {
		for _, p := range s.Topics[name].Partitions {
			if slices.Contains(p.Replicas, id) {
				out = append(out, fmt.Sprintf("%s/%d", name, p.Index))
			}
		}
	}
	for _, p := range s.GroupShards {
		if slices.Contains(p.Replicas, id) {
			out = append(out, fmt.Sprintf("group shard %d", p.Index))
		}
	}
	for shard, r := range s.Reassignments {
		if slices.Contains(r.Original, id) || slices.Contains(r.Target, id) {
			out = append(out, fmt.Sprintf("the move of %s/%d (shard %d)", r.Topic, r.Partition, shard))
		}
	}
	slices.Sort(out)
	return out
}

// removeBroker takes a broker that holds no replica out of the cluster for
// good: its id is never registered again (dragonboat never admits a removed
// replica id back into __meta either).
func (s *State) removeBroker(id uint64) (int, []byte) {
	if slices.Contains(s.RemovedBrokers, id) {
		return ErrNone, nil // a retried proposal
	}
	if _, ok := s.Brokers[id]; !ok {
		return ErrInvalidRequest, []byte(fmt.Sprintf("broker %d is not registered", id))
	}
	if held := s.HeldBy(id); len(held) > 0 {
		if len(held) > 5 {
			held = append(held[:5], fmt.Sprintf("and %d more", len(held)-5))
		}
		return ErrInvalidRequest, []byte(fmt.Sprintf("broker %d still holds replicas: %v; move them first", id, held))
	}
	delete(s.Brokers, id)
	s.Draining = minus(s.Draining, []uint64{id})
	s.RemovedBrokers = append(slices.Clone(s.RemovedBrokers), id)
	return ErrNone, nil
}
