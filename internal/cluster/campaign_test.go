package cluster

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"

	"github.com/longboat/longboat/internal/meta"
)

// TestCampaignForOneReplica checks that every surviving broker picks the
// same single campaigner for a partition: the first replica in replica
// order that is neither the dead leader nor down, so two followers never
// split the vote.
func TestCampaignForOneReplica(t *testing.T) {
	p := meta.Partition{Replicas: []uint64{3, 1, 2}}
	none := func(uint64) bool { return false }
	cases := []struct {
		dead uint64
		down func(uint64) bool
		want uint64
	}{
		{dead: 3, down: none, want: 1},
		{dead: 1, down: none, want: 3},
		{dead: 2, down: none, want: 3},
		{dead: 3, down: func(b uint64) bool { return b == 1 }, want: 2},
		{dead: 3, down: func(b uint64) bool { return b != 3 }, want: 0},
	}
	for _, c := range cases {
		if got := campaignFor(p, c.dead, c.down); got != c.want {
			t.Errorf("dead %d: campaigner %d, want %d", c.dead, got, c.want)
		}
	}
}

// leaderTable answers GetLeaderID from a map: shard -> {leader, term}.
type leaderTable map[uint64][2]uint64

func (l leaderTable) GetLeaderID(shard uint64) (uint64, uint64, bool, error) {
	e, ok := l[shard]
	return e[0], e[1], ok && e[0] != 0, nil
}

// TestFallbackCampaign checks the one-at-a-time order: the second replica
// in order campaigns only once the first had campaignFallbackAfter to win,
// only while the partition has no leader or names the dead one, and not
// at all once the dead broker answers again.
func TestFallbackCampaign(t *testing.T) {
	var sent []pb.Message
	d := &localDelivery{}
	h := raftio.MessageHandler(func(b pb.MessageBatch) { sent = append(sent, b.Requests...) })
	d.handler.Store(&h)
	leaders := leaderTable{10: {3, 7}, 11: {3, 7}, 12: {3, 7}}
	c := &campaigner{self: 2, delivery: d, nh: leaders, replicas: startedAll{},
		refused: func(context.Context, string) bool { return true }}
	st := &meta.State{Brokers: map[uint64]*meta.Broker{3: {ID: 3, RaftAddr: "127.0.0.1:1"}}, Topics: map[string]*meta.Topic{
		"t": {Name: "t", Partitions: []meta.Partition{
			{ShardID: 10, Replicas: []uint64{3, 1, 2}}, // 1 campaigns first, 2 falls back
			{ShardID: 11, Replicas: []uint64{3, 2, 1}}, // 2 campaigns at once
			{ShardID: 12, Replicas: []uint64{3, 1, 2}},
		}},
	}}
	down := map[uint64]bool{3: true}
	isDown := func(b uint64) bool { return down[b] }
	if n := c.campaign(context.Background(), st, 3, isDown); n != 1 || len(sent) != 1 || sent[0].ShardID != 11 ||
		sent[0].Type != pb.TimeoutNow || sent[0].Term != 7 || sent[0].To != 2 {
		t.Fatalf("campaign started %d: %+v; want one TimeoutNow for shard 11 in term 7", n, sent)
	}
	now := time.Now()
	if due, ok := c.nextDue(); !ok || due.Before(now.Add(campaignFallbackAfter-time.Second)) || due.After(now.Add(campaignFallbackAfter)) {
		t.Fatalf("next fallback due %v (%v); want about %v from now", due, ok, campaignFallbackAfter)
	}
	if n := c.followUp(now, isDown); n != 0 {
		t.Fatalf("fallback campaigned %d before it was due", n)
	}
	leaders[12] = [2]uint64{1, 8} // broker 1 won shard 12; shard 10 still names the dead leader
	if n := c.followUp(now.Add(campaignFallbackAfter), isDown); n != 1 || sent[len(sent)-1].ShardID != 10 {
		t.Fatalf("fallback campaigned %d (last %+v); want shard 10 only", n, sent[len(sent)-1])
	}
	if len(c.pending) != 0 {
		t.Fatalf("pending after the fallbacks: %+v", c.pending)
	}
	if due, ok := c.nextDue(); ok {
		t.Fatalf("next fallback due %v with none pending", due)
	}
	c.campaign(context.Background(), st, 3, isDown)
	down[3] = false
	before := len(sent)
	if n := c.followUp(now.Add(time.Hour), isDown); n != 0 || len(sent) != before || len(c.pending) != 0 {
		t.Fatalf("fallback campaigned %d after the dead broker answered again", n)
	}
}

// TestFallbackAfterFirstCampaignStarted: a broker that learns of the death
// after the first replica in order already campaigned sees no leader, not
// the dead one. It still registers its fallback, for that campaign can
// lose (its log behind this one's): before, it registered none, and the
// partition waited out an election timeout (two chaos kills of 1.6 s).
func TestFallbackAfterFirstCampaignStarted(t *testing.T) {
	var sent []pb.Message
	d := &localDelivery{}
	h := raftio.MessageHandler(func(b pb.MessageBatch) { sent = append(sent, b.Requests...) })
	d.handler.Store(&h)
	leaders := leaderTable{10: {0, 8}} // broker 1's RequestVote in term 8 arrived: no leader
	c := &campaigner{self: 2, delivery: d, nh: leaders, replicas: startedAll{},
		refused: func(context.Context, string) bool { return true }}
	st := &meta.State{Brokers: map[uint64]*meta.Broker{3: {ID: 3, RaftAddr: "127.0.0.1:1"}}, Topics: map[string]*meta.Topic{
		"t": {Name: "t", Partitions: []meta.Partition{{ShardID: 10, Replicas: []uint64{3, 1, 2}}}},
	}}
	isDown := func(b uint64) bool { return b == 3 }
	if n := c.campaign(context.Background(), st, 3, isDown); n != 0 || len(sent) != 0 {
		t.Fatalf("campaign started %d (%+v); broker 2 is second in order", n, sent)
	}
	if n := c.followUp(time.Now().Add(campaignFallbackAfter), isDown); n != 1 || len(sent) != 1 ||
		sent[0].ShardID != 10 || sent[0].Type != pb.TimeoutNow || sent[0].Term != 8 {
		t.Fatalf("fallback campaigned %d: %+v; want one TimeoutNow for shard 10 in term 8", n, sent)
	}
}

type startedAll struct{}

func (startedAll) isStarted(uint64) bool     { return true }
func (startedAll) partitionShards() []uint64 { return nil }
func (startedAll) hosts(uint64) bool         { return true }

// TestCampaignCoversMetaAndGroupShards checks that the shards a dead
// broker led besides topic partitions are campaigned for too, in the same
// one-at-a-time order: a group shard in its replica order, __meta in node
// id order of its voters, and __meta never by a broker that is not a voter.
func TestCampaignCoversMetaAndGroupShards(t *testing.T) {
	st := &meta.State{Brokers: map[uint64]*meta.Broker{3: {ID: 3, RaftAddr: "127.0.0.1:1"}},
		GroupShards: []meta.Partition{{ShardID: 20, Replicas: []uint64{3, 2, 1}}, {ShardID: 21, Replicas: []uint64{3, 1, 2}}}}
	isDown := func(b uint64) bool { return b == 3 }
	for _, c := range []struct {
		self       uint64
		voters     []uint64
		now, later []uint64 // shards campaigned at once, and after campaignFallbackAfter
	}{
		{self: 1, voters: []uint64{1, 2, 3}, now: []uint64{meta.ShardID, 21}, later: []uint64{20}},
		{self: 2, voters: []uint64{1, 2, 3}, now: []uint64{20}, later: []uint64{21, meta.ShardID}},
		{self: 2, voters: nil, now: []uint64{20}, later: []uint64{21}},
	} {
		var sent []uint64
		d := &localDelivery{}
		h := raftio.MessageHandler(func(b pb.MessageBatch) {
			for _, m := range b.Requests {
				sent = append(sent, m.ShardID)
			}
		})
		d.handler.Store(&h)
		leaders := leaderTable{meta.ShardID: {3, 4}, 20: {3, 2}, 21: {3, 2}}
		cp := &campaigner{self: c.self, delivery: d, nh: leaders, replicas: startedAll{}, metaVoters: c.voters,
			refused: func(context.Context, string) bool { return true }}
		cp.campaign(context.Background(), st, 3, isDown)
		if !slices.Equal(sent, c.now) {
			t.Errorf("broker %d (meta voters %v) campaigned at once for %v, want %v", c.self, c.voters, sent, c.now)
		}
		sent = nil
		cp.followUp(time.Now().Add(campaignFallbackAfter), isDown)
		slices.Sort(sent)
		if want := slices.Sorted(slices.Values(c.later)); !slices.Equal(sent, want) {
			t.Errorf("broker %d (meta voters %v) fell back for %v, want %v", c.self, c.voters, sent, want)
		}
	}
}

// TestValidateRemembersOnlyValidAddresses: Validate answers as
// dragonboat's check does, from memory for an address it accepted before,
// and stops remembering at maxValidAddrs without refusing valid ones.
func TestValidateRemembersOnlyValidAddresses(t *testing.T) {
	d := &localDelivery{}
	for range 2 {
		for addr, want := range map[string]bool{
			"127.0.0.1:9192": true, "broker-1.example:9192": true,
			"127.0.0.1": false, "127.0.0.1:0": false, "127.0.0.1:65536": false, ":9192": false, "a:b:c": false,
		} {
			if got := d.Validate(addr); got != want {
				t.Fatalf("Validate(%q) = %v, want %v", addr, got, want)
			}
		}
	}
	if n := d.nvalid.Load(); n != 2 {
		t.Fatalf("remembered %d addresses, want the 2 valid ones", n)
	}
	for i := range maxValidAddrs + 10 {
		if !d.Validate(fmt.Sprintf("10.0.%d.%d:9192", i/250, i%250)) {
			t.Fatalf("address %d refused", i)
		}
	}
	if n := d.nvalid.Load(); n != maxValidAddrs {
		t.Fatalf("remembered %d addresses, want at most %d", n, maxValidAddrs)
	}
	if d.Validate("10.0.0.1:notaport") {
		t.Fatal("an invalid address was accepted once the memory was full")
	}
}
