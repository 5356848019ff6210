package cluster

import (
	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/metrics"
)

// MetricsState describes this broker's view for the scrape-time gauges.
// Partition-wide figures are reported once: high watermarks and
// under-replication (an ISR smaller than the replica set) by each
// partition's leader, partition counts and offline partitions by the
// __meta leader.
func (n *Node) MetricsState() metrics.State {
	st := n.Meta()
	out := metrics.State{
		LeaderChanges: map[string]int64{
			metrics.GroupMeta:      n.Events.MetaLeaderChanges.Load(),
			metrics.GroupPartition: n.Events.PartitionLeaderChanges.Load(),
		},
		MaxTerm:            map[string]uint64{},
		OfflineReplicas:    len(n.replicas.offlineErrors()),
		DiskFreeBytes:      n.disk.free.Load(),
		DiskBelowFloor:     n.disk.below.Load(),
		RaftRefusedForDisk: n.Events.RaftRefusedForDisk.Load(),
	}
	metaTerm, metaLeader := n.IsLeader(meta.ShardID)
	out.MetaLeader = metaLeader
	out.MaxTerm[metrics.GroupMeta] = metaTerm
	for _, name := range st.TopicNames() {
		t := st.Topics[name]
		for _, p := range t.Partitions {
			if metaLeader {
				out.ClusterPartitions++
				if _, _, ok := n.Leader(p.ShardID); !ok {
					out.OfflinePartitions++
				}
			}
			rep, hosted := n.Partition(p.ShardID)
			if !hosted {
				continue
			}
			ps := metrics.PartitionState{Topic: t.Name, Partition: p.Index, LogSizeBytes: rep.LogSize()}
			term, leader := n.IsLeader(p.ShardID)
			out.MaxTerm[metrics.GroupPartition] = max(out.MaxTerm[metrics.GroupPartition], term)
			if leader {
				ps.Leader = true
				ps.HighWatermark = rep.HighWatermark()
				ps.UnderReplicated = n.isr.underReplicated(p.ShardID, p.Replicas)
			}
			out.Partitions = append(out.Partitions, ps)
		}
	}
	return out
}
