package txn_test

import (
	"context"
	"testing"
	"time"

	"github.com/longboat/longboat/internal/group"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// TestNewCoordinatorFinishesPreparedCommit: the coordinator stops after a
// transaction's PrepareCommit is durable and before it completed; the
// shard's next leader finishes the commit on its own, and the
// transaction's pending offsets, replicated in the group's shard, become
// visible.
func TestNewCoordinatorFinishesPreparedCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and stops brokers")
	}
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: adjust})
	cl := client(t, c)
	const id, grp, topic = "failover", "failover-group", "failover-topic"
	p := newProducer(t, cl, id, 30000)
	if code := p.addOffsets(t, cl, grp); code != 0 {
		t.Fatalf("AddOffsetsToTxn: %d", code)
	}
	if code := p.commitOffset(t, cl, grp, topic, 42, "", -1); code != 0 {
		t.Fatalf("TxnOffsetCommit: %d", code)
	}
	shard, _ := c.Brokers[0].Node.GroupShardFor(id)
	leader, _, ok := c.Brokers[0].Node.Leader(shard)
	if !ok {
		t.Fatal("the transaction's shard has no leader")
	}
	old := int(leader) - 1
	c.StopBroker(old)
	survivor := c.Brokers[(old+1)%3].Node

	// What the stopped coordinator had made durable before its markers:
	// PrepareCommit, proposed here through a surviving replica.
	err := testutil.Poll(20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := survivor.ReadIndex(ctx, shard); err != nil {
			return err
		}
		sm, _ := survivor.GroupStateMachine(shard)
		rec, ok := sm.Txn(id)
		if !ok || rec.State != group.TxnOngoing {
			t.Fatalf("before the failover: %+v", rec)
		}
		rec.State = group.TxnPrepareCommit
		rec.Version++
		return survivor.ProposeGroup(ctx, shard, group.Command{Txn: &group.TxnCommand{Put: &rec}}.Encode())
	})
	if err != nil {
		t.Fatalf("propose PrepareCommit: %v", err)
	}
	// A new client: franz-go keeps dialling a coordinator it found.
	cl = client(t, c)
	awaitState(t, cl, id, "CompleteCommit", 20*time.Second)
	if got := committed(t, cl, grp, topic); got != 42 {
		t.Fatalf("after the new coordinator finished the commit the offset is %d, want 42", got)
	}
	if leader, _, _ := survivor.Leader(shard); int(leader)-1 == old {
		t.Fatalf("the stopped broker %d still leads the shard", leader)
	}
	// The producer goes on with the new coordinator.
	if code := p.addOffsets(t, cl, grp); code != 0 {
		t.Errorf("AddOffsetsToTxn after the failover: %d", code)
	}
}
