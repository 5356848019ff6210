package cluster

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/lni/dragonboat/v4"
	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/longboat/longboat/internal/group"
	"github.com/longboat/longboat/internal/meta"
)

// reconcileGroupShards asks for the consumer-group shards once every
// initial member has registered, and starts the replicas placed here.
func (n *Node) reconcileGroupShards(st *meta.State) {
	if len(st.GroupShards) == 0 {
		if len(st.Brokers) < len(n.cfg.InitialMembers) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err := n.ProposeMeta(ctx, meta.Command{EnsureGroupShards: &meta.EnsureGroupShards{
			Count: n.cfg.GroupShards, ReplicationFactor: min(3, len(st.Brokers))}})
		cancel()
		if err != nil {
			n.log.Debug().Err(err).Msg("create group shards; retrying")
		}
		return
	}
	for _, p := range st.GroupShardsOf(n.cfg.NodeID) {
		n.mu.RLock()
		started := n.groupSMs[p.ShardID] != nil
		n.mu.RUnlock()
		if started {
			continue
		}
		if err := n.startGroupShard(st, p); err != nil {
			n.log.Error().Err(err).Uint64("shard", p.ShardID).Msg("start group shard replica")
		}
	}
}

func (n *Node) startGroupShard(st *meta.State, p meta.Partition) error {
	members := map[uint64]dragonboat.Target{}
	for _, r := range p.Replicas {
		b, ok := st.Brokers[r]
		if !ok {
			return fmt.Errorf("replica broker %d is not registered", r)
		}
		members[r] = b.RaftAddr
	}
	smr := group.NewStateMachine()
	factory := func(uint64, uint64) sm.IStateMachine { return smr }
	if err := n.nh.StartReplica(members, false, factory, n.shardConfig(p.ShardID, false)); err != nil && !errors.Is(err, dragonboat.ErrShardAlreadyExist) {
		return fmt.Errorf("start group shard %d: %w", p.ShardID, err)
	}
	n.mu.Lock()
	n.groupSMs[p.ShardID] = smr
	n.startAt[p.ShardID] = time.Now()
	n.mu.Unlock()
	return nil
}

// GroupShardFor returns the shard that coordinates a group.
func (n *Node) GroupShardFor(name string) (uint64, bool) {
	shards := n.Meta().GroupShards
	if len(shards) == 0 {
		return 0, false
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return shards[h.Sum32()%uint32(len(shards))].ShardID, true
}

// GroupShardIDs lists every group shard.
func (n *Node) GroupShardIDs() []uint64 {
	var out []uint64
	for _, p := range n.Meta().GroupShards {
		out = append(out, p.ShardID)
	}
	return out
}

// GroupStateMachine returns the local replica of a group shard.
func (n *Node) GroupStateMachine(shard uint64) (*group.StateMachine, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	smr, ok := n.groupSMs[shard]
	return smr, ok
}

// ProposeGroup commits a command to a group shard (this broker leads it).
func (n *Node) ProposeGroup(ctx context.Context, shard uint64, cmd []byte) error {
	if _, ok := ctx.Deadline(); !ok {
		// dragonboat needs a deadline; connection contexts have none.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	start := time.Now()
	for {
		_, err := n.nh.SyncPropose(ctx, n.nh.GetNoOPSession(shard), cmd)
		if err == nil {
			n.metrics.ProposalDuration.WithLabelValues("group").Observe(time.Since(start).Seconds())
			return nil
		}
		if !errors.Is(err, dragonboat.ErrSystemBusy) || ctx.Err() != nil {
			return fmt.Errorf("propose to group shard %d: %w", shard, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
