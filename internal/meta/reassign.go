package meta

import (
	"fmt"
	"slices"
)

// Kafka error codes of reassignments.
const (
	ErrInvalidReplicaAssignment = 39
	ErrReassignmentInProgress   = 60
	ErrNoReassignmentInProgress = 85
)

// Reassignment is a partition's replica set moving from Original to
// Target, one Raft membership change at a time (cluster/reassign.go). While
// it runs the partition's Replicas are Target followed by the replicas of
// Original not yet removed, as Kafka shows them in Metadata; replicas of
// Target missing from Original join as non-voting members and become
// voters once caught up (Promoted), then the others are removed.
type Reassignment struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Original  []uint64 `json:"original"`
	Target    []uint64 `json:"target"`
	// Promoted are the replicas outside Original made voters so far; a
	// replica outside Original and not promoted restarts as non-voting.
	Promoted []uint64 `json:"promoted,omitempty"`
	// Cancelled: the target was set back to Original.
	Cancelled bool `json:"cancelled,omitempty"`
	// StartedMs is the proposer's clock when the move was asked for.
	StartedMs int64 `json:"started_ms"`
}

// Adding are the replicas the move brings in (Kafka's adding replicas).
func (r *Reassignment) Adding() []uint64 { return minus(r.Target, r.Original) }

// Removing are the replicas the move takes out (Kafka's removing replicas).
func (r *Reassignment) Removing() []uint64 { return minus(r.Original, r.Target) }

// JoinsNonVoting tells whether broker id's replica of the shard is one the
// move brings in and has not promoted yet: it must run as non-voting.
func (r *Reassignment) JoinsNonVoting(id uint64) bool {
	return !slices.Contains(r.Original, id) && !slices.Contains(r.Promoted, id)
}

// Reassign starts (Replicas set) or cancels (Cancel) a partition's move.
type Reassign struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Replicas  []uint64 `json:"replicas,omitempty"`
	Cancel    bool     `json:"cancel,omitempty"`
	StartedMs int64    `json:"started_ms"`
}

// ReassignStep records one membership change the shard's leader has made:
// Promoted became a voter, or Removed left the shard; Dropped is a replica
// a cancel took back before the shard ever admitted it. A step already
// recorded changes nothing, so the leader may record it again after a
// restart.
type ReassignStep struct {
	ShardID  uint64 `json:"shard_id"`
	Promoted uint64 `json:"promoted,omitempty"`
	Removed  uint64 `json:"removed,omitempty"`
	Dropped  uint64 `json:"dropped,omitempty"`
}

func minus(a, b []uint64) []uint64 {
	out := []uint64{}
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func sameSet(a, b []uint64) bool {
	return len(a) == len(b) && len(minus(a, b)) == 0
}

// GroupShardsTopic is the name a reassignment gives the group shards, as
// Kafka names the partitions holding its groups and transactions:
// partition i of __consumer_offsets is GroupShards[i]. Moving it moves
// that group shard, the same way as a topic's partition.
const GroupShardsTopic = "__consumer_offsets"

// replicaSet returns a topic's partition, or a group shard when topic is
// GroupShardsTopic.
func (s *State) replicaSet(topic string, idx int32) (Partition, bool) {
	if topic == GroupShardsTopic {
		if idx < 0 || int(idx) >= len(s.GroupShards) {
			return Partition{}, false
		}
		return s.GroupShards[idx], true
	}
	t, ok := s.Topics[topic]
	if !ok || idx < 0 || int(idx) >= len(t.Partitions) {
		return Partition{}, false
	}
	return t.Partitions[idx], true
}

// setReplicas replaces one partition's (or group shard's) replica set;
// topics and the group shards' slice are immutable once published, so they
// are copied.
func (s *State) setReplicas(topic string, idx int32, replicas, removed []uint64) {
	if topic == GroupShardsTopic {
		gs := slices.Clone(s.GroupShards)
		gs[idx].Replicas, gs[idx].Removed = replicas, removed
		s.GroupShards = gs
		return
	}
	t := s.Topics[topic]
	c := *t
	c.Partitions = slices.Clone(t.Partitions)
	c.Partitions[idx].Replicas = replicas
	c.Partitions[idx].Removed = removed
	s.Topics[c.Name] = &c
}

// ReplicaSet returns the partition, or the group shard (its topic
// GroupShardsTopic), that owns shardID: what a reassignment moves.
func (s *State) ReplicaSet(shardID uint64) (PartitionRef, bool) {
	if ref, ok := s.Shard(shardID); ok {
		return ref, true
	}
	for _, p := range s.GroupShards {
		if p.ShardID == shardID {
			return PartitionRef{Topic: GroupShardsTopic, Partition: p}, true
		}
	}
	return PartitionRef{}, false
}

func (s *State) cloneReassignments() {
	m := make(map[uint64]*Reassignment, len(s.Reassignments)+1)
	for k, v := range s.Reassignments {
		m[k] = v
	}
	s.Reassignments = m
}

func (s *State) reassign(c *Reassign) (int, []byte) {
	p, ok := s.replicaSet(c.Topic, c.Partition)
	if !ok {
		return ErrUnknownTopic, []byte("unknown topic or partition")
	}
	cur, moving := s.Reassignments[p.ShardID]
	if c.Cancel {
		if !moving {
			return ErrNoReassignmentInProgress, []byte("no reassignment in progress")
		}
		if cur.Cancelled {
			return ErrNone, nil
		}
		if len(minus(cur.Original, p.Replicas)) > 0 {
			return ErrReassignmentInProgress, []byte("too late to cancel: replicas of the original set have been removed (Raft does not admit a removed replica again); the move completes")
		}
		r := *cur
		r.Target, r.Cancelled = slices.Clone(cur.Original), true
		s.cloneReassignments()
		s.Reassignments[p.ShardID] = &r
		s.setReplicas(c.Topic, c.Partition, append(slices.Clone(cur.Original), minus(p.Replicas, cur.Original)...), p.Removed)
		return s.completeIfDone(p.ShardID)
	}
	if code, msg := s.validTarget(p, c.Replicas); code != ErrNone {
		return code, []byte(msg)
	}
	if moving {
		if !cur.Cancelled && slices.Equal(cur.Target, c.Replicas) {
			return ErrNone, nil // a retried proposal
		}
		return ErrReassignmentInProgress, []byte("a reassignment of this partition is in progress")
	}
	if sameSet(p.Replicas, c.Replicas) {
		s.setReplicas(c.Topic, c.Partition, slices.Clone(c.Replicas), p.Removed) // only the order (the preferred leader) changes
		return ErrNone, nil
	}
	r := &Reassignment{Topic: c.Topic, Partition: c.Partition, Original: slices.Clone(p.Replicas), Target: slices.Clone(c.Replicas), StartedMs: c.StartedMs}
	s.cloneReassignments()
	s.Reassignments[p.ShardID] = r
	s.setReplicas(c.Topic, c.Partition, append(slices.Clone(r.Target), r.Removing()...), p.Removed)
	return ErrNone, nil
}

// validTarget checks a target replica set: registered brokers, no
// duplicates, none Raft removed from the shard before (dragonboat never
// admits a removed replica id again, and the replica id is the broker id).
func (s *State) validTarget(p Partition, target []uint64) (int, string) {
	if len(target) == 0 {
		return ErrInvalidReplicaAssignment, "the replica list is empty"
	}
	for k, r := range target {
		if _, ok := s.Brokers[r]; !ok {
			return ErrInvalidReplicaAssignment, fmt.Sprintf("broker %d is not registered", r)
		}
		if slices.Contains(target[:k], r) {
			return ErrInvalidReplicaAssignment, fmt.Sprintf("broker %d is listed twice", r)
		}
		if slices.Contains(p.Removed, r) {
			return ErrInvalidReplicaAssignment, fmt.Sprintf("broker %d was removed from this partition's Raft group before and cannot host it again", r)
		}
		if s.IsDraining(r) && !slices.Contains(p.Replicas, r) {
			return ErrInvalidReplicaAssignment, fmt.Sprintf("broker %d is draining: no new replica goes to it", r)
		}
	}
	return ErrNone, ""
}

func (s *State) reassignStep(c *ReassignStep) (int, []byte) {
	cur, ok := s.Reassignments[c.ShardID]
	if !ok {
		return ErrNone, nil // completed already: a retried step
	}
	p, ok := s.replicaSet(cur.Topic, cur.Partition)
	if !ok {
		return ErrUnknownTopic, []byte("unknown topic or partition")
	}
	if r := c.Promoted; r != 0 && !slices.Contains(cur.Promoted, r) && !slices.Contains(cur.Original, r) && slices.Contains(p.Replicas, r) {
		n := *cur
		n.Promoted = append(slices.Clone(cur.Promoted), r)
		s.cloneReassignments()
		s.Reassignments[c.ShardID] = &n
	}
	if r := c.Removed; r != 0 && slices.Contains(p.Replicas, r) && !slices.Contains(s.Reassignments[c.ShardID].Target, r) {
		s.setReplicas(cur.Topic, cur.Partition, minus(p.Replicas, []uint64{r}), append(slices.Clone(p.Removed), r))
	}
	if r := c.Dropped; r != 0 && slices.Contains(p.Replicas, r) && !slices.Contains(s.Reassignments[c.ShardID].Target, r) {
		s.setReplicas(cur.Topic, cur.Partition, minus(p.Replicas, []uint64{r}), p.Removed)
	}
	return s.completeIfDone(c.ShardID)
}

// completeIfDone ends a move whose replicas are exactly its target, every
// one brought in promoted: Replicas take the target's order and the record
// goes.
func (s *State) completeIfDone(shardID uint64) (int, []byte) {
	cur := s.Reassignments[shardID]
	p, _ := s.replicaSet(cur.Topic, cur.Partition)
	if !sameSet(p.Replicas, cur.Target) || len(minus(minus(cur.Target, cur.Original), cur.Promoted)) > 0 {
		return ErrNone, nil
	}
	s.setReplicas(cur.Topic, cur.Partition, slices.Clone(cur.Target), p.Removed)
	s.cloneReassignments()
	delete(s.Reassignments, shardID)
	return ErrNone, nil
}

// Reassignment returns the move in progress of a partition shard.
func (s *State) Reassignment(shardID uint64) (*Reassignment, bool) {
	r, ok := s.Reassignments[shardID]
	return r, ok
}
