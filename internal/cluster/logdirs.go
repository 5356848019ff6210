package cluster

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/lni/dragonboat/v4"
)

// ErrNotHosted is returned for a shard this broker has no replica of.
var ErrNotHosted = errors.New("no replica of the shard on this broker")

// LogDir is this broker's one log directory, its data directory as an
// absolute path (Kafka reports log.dirs entries that way).
func (n *Node) LogDir() (string, error) {
	dir, err := filepath.Abs(n.cfg.DataDir)
	if err != nil {
		return "", fmt.Errorf("data dir %s: %w", n.cfg.DataDir, err)
	}
	return dir, nil
}

// LogDirVolume returns the total and usable bytes of the file system the
// data directory is on.
func (n *Node) LogDirVolume() (total, usable int64, err error) {
	return volumeBytes(n.cfg.DataDir)
}

// DiskBelowFloor tells whether the data dir's free space is under
// --min-free-disk-bytes, when Produce to the leaders here is refused.
func (n *Node) DiskBelowFloor() bool { return n.disk.belowFloor() }

// OfflineReplicas returns the storage fault of each partition replica here
// that one took offline, by shard.
func (n *Node) OfflineReplicas() map[uint64]error { return n.replicas.offlineErrors() }

// PartitionDir is where a partition shard's replica keeps its log.
func (n *Node) PartitionDir(shard uint64) string {
	dir, err := n.LogDir()
	if err != nil {
		dir = n.cfg.DataDir
	}
	return partitionDir(dir, shard)
}

// ReplicaLag is how many offsets the local replica of a partition shard
// had yet to apply of what its shard had committed when asked: 0 on the
// leader, whose high watermark is the partition's. On a follower a
// ReadIndex learns the leader's commit index and waits until the replica
// has applied it; the high watermark then, less the one before, is the lag.
func (n *Node) ReplicaLag(ctx context.Context, shard uint64) (int64, error) {
	p, ok := n.Partition(shard)
	if !ok {
		return 0, ErrNotHosted
	}
	if _, leader := n.IsLeader(shard); leader {
		return 0, nil
	}
	before := p.HighWatermark()
	res, err := n.nh.SyncRead(ctx, shard, nil)
	if err != nil {
		return 0, fmt.Errorf("read index of shard %d: %w", shard, err)
	}
	hw, ok := res.(int64)
	if !ok {
		return 0, fmt.Errorf("read index of shard %d: lookup answered %T", shard, res)
	}
	return max(hw-before, 0), nil
}

// DownBrokers returns the registered brokers, other than this one, whose
// /livez does not answer.
func (n *Node) DownBrokers() map[uint64]bool { return n.peers.downPeers(n.ctx, n.cfg.NodeID, n.Meta()) }

// TransferLeadership asks a partition shard's Raft group to hand its
// leadership to replica to. A follower forwards the request to its leader;
// the transfer itself happens, or not, after this returns.
func (n *Node) TransferLeadership(shard, to uint64) error {
	err := n.nh.RequestLeaderTransfer(shard, to)
	if errors.Is(err, dragonboat.ErrShardNotFound) {
		return ErrNotHosted
	}
	if err != nil {
		return fmt.Errorf("leader transfer of shard %d to %d: %w", shard, to, err)
	}
	return nil
}
