package cluster

import (
	"context"
	"hash/fnv"
	"time"

	"github.com/longboat/longboat/internal/group"
)

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
	return n.replicas.groupStateMachine(shard)
}

// ProposeGroupAsync starts committing a command to a group shard this
// broker leads and returns the wait for its result; commands started one
// after another are applied in that order, or fail.
func (n *Node) ProposeGroupAsync(shard uint64, cmd []byte, timeout time.Duration) (func() error, error) {
	return n.shards.proposeGroupAsync(shard, cmd, timeout)
}

// ProposeGroup commits a command to a group shard (this broker leads it).
func (n *Node) ProposeGroup(ctx context.Context, shard uint64, cmd []byte) error {
	return n.shards.proposeGroup(ctx, shard, cmd)
}
