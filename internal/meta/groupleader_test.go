package meta

import "testing"

// A group shard's leader report is kept as a partition's is: brokers
// without a replica of the shard name the group coordinator from it.
func TestSetLeaderRecordsGroupShards(t *testing.T) {
	h := newHarness(t)
	h.registerBrokers(5)
	h.must(Command{EnsureGroupShards: &EnsureGroupShards{Count: 4, ReplicationFactor: 3}})
	shard := h.m.State().GroupShards[2].ShardID
	h.must(Command{SetLeader: &SetLeader{ShardID: shard, Leader: Leader{Replica: 4, Term: 3}}})
	if got := h.m.State().Leaders[shard]; got != (Leader{Replica: 4, Term: 3}) {
		t.Fatalf("group shard %d leader = %+v, want 4@3", shard, got)
	}
	h.must(Command{SetLeader: &SetLeader{ShardID: shard, Leader: Leader{Replica: 5, Term: 2}}})
	if got := h.m.State().Leaders[shard]; got != (Leader{Replica: 4, Term: 3}) {
		t.Errorf("older term overwrote a group shard's leader: %+v, want 4@3", got)
	}
}
