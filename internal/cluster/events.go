package cluster

import (
	"sync/atomic"

	"github.com/lni/dragonboat/v4/raftio"
	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/meta"
)

// Events counts Raft events this broker observed.
type Events struct {
	MetaLeaderChanges      atomic.Int64
	PartitionLeaderChanges atomic.Int64
	SnapshotsSent          atomic.Int64
	SnapshotsReceived      atomic.Int64
	// RaftRefusedForDisk counts the Raft messages and snapshot chunks for
	// partition replicas here dropped while free space was short (raftIntake).
	RaftRefusedForDisk atomic.Int64
}

// raftListener counts leader changes and hands them to the balancer.
type raftListener struct {
	events  *Events
	trail   *electionTrail
	leaders chan<- raftio.LeaderInfo
}

// LeaderUpdated runs on a dragonboat goroutine: count and hand off, never block.
// dragonboat also reports a replica that lost its leader and found the
// same one again in the same term (it campaigned in vain): no leadership
// changed, so the trail logs it and it is not counted.
func (l raftListener) LeaderUpdated(info raftio.LeaderInfo) {
	switch {
	case info.ShardID == meta.ShardID:
		if info.LeaderID != 0 {
			l.events.MetaLeaderChanges.Add(1)
		}
	case l.trail.observe(info):
		l.events.PartitionLeaderChanges.Add(1)
	}
	select {
	case l.leaders <- info:
	default:
		// The balancer's periodic pass reports leaders a full channel dropped.
	}
}

// readyMarker records which replicas have reported ready.
type readyMarker interface {
	setReady(shardID uint64, ready bool)
}

// systemListener records replica readiness and counts snapshots.
type systemListener struct {
	events   *Events
	replicas readyMarker
	log      zerolog.Logger
}

func (l systemListener) NodeReady(info raftio.NodeInfo) { l.replicas.setReady(info.ShardID, true) }

func (l systemListener) NodeUnloaded(info raftio.NodeInfo) { l.replicas.setReady(info.ShardID, false) }

// SendSnapshotCompleted fires on the leader when a lagging replica needed a
// whole snapshot because the Raft log no longer held what it missed.
func (l systemListener) SendSnapshotCompleted(info raftio.SnapshotInfo) {
	l.events.SnapshotsSent.Add(1)
	l.log.Info().Uint64("shard", info.ShardID).Uint64("to", info.ReplicaID).Uint64("index", info.Index).Msg("snapshot sent to a lagging replica")
}

// SnapshotReceived fires when a snapshot streamed from the leader has been
// received: this replica was too far behind to catch up from the log.
func (l systemListener) SnapshotReceived(info raftio.SnapshotInfo) {
	l.events.SnapshotsReceived.Add(1)
	l.log.Info().Uint64("shard", info.ShardID).Uint64("from", info.From).Uint64("index", info.Index).Msg("snapshot received from the leader")
}

func (systemListener) NodeHostShuttingDown()                       {}
func (systemListener) ConnectionEstablished(raftio.ConnectionInfo) {}
func (systemListener) ConnectionFailed(raftio.ConnectionInfo)      {}
func (systemListener) NodeDeleted(raftio.NodeInfo)                 {}
func (systemListener) MembershipChanged(raftio.NodeInfo)           {}
func (systemListener) SendSnapshotStarted(raftio.SnapshotInfo)     {}
func (systemListener) SendSnapshotAborted(raftio.SnapshotInfo)     {}
func (systemListener) SnapshotRecovered(raftio.SnapshotInfo)       {}
func (systemListener) SnapshotCreated(raftio.SnapshotInfo)         {}
func (systemListener) SnapshotCompacted(raftio.SnapshotInfo)       {}
func (systemListener) LogCompacted(raftio.EntryInfo)               {}
func (systemListener) LogDBCompacted(raftio.EntryInfo)             {}
