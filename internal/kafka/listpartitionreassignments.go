package kafka

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/cluster"
)

func init() { handles(0, 0, (*Server).listPartitionReassignments) }

// listPartitionReassignments (ListPartitionReassignments, key 46) lists
// the moves in progress from __meta after a ReadIndex, so every broker
// answers the same: each partition's current replica set (the target, then
// the replicas still to be removed), and Kafka's adding and removing
// replicas (target minus original, original minus target). Partitions
// asked for that are not moving, or do not exist, are left out, as Kafka
// does. A broker that cannot reach __meta's quorum answers
// REQUEST_TIMED_OUT rather than a list that may be stale, and one no longer
// in __meta's Raft group NOT_CONTROLLER. As Kafka's
// controller, it needs DESCRIBE on the cluster.
func (s *Server) listPartitionReassignments(ctx context.Context, req *request, body *kmsg.ListPartitionReassignmentsRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	if !s.authorizeCluster(req, acl.OpDescribe) {
		msg := "Authorization failed."
		resp.ErrorCode, resp.ErrorMessage = kerr.ClusterAuthorizationFailed.Code, &msg
		return resp
	}
	sctx, cancel := context.WithTimeout(ctx, requestTimeout(body.TimeoutMillis, 30*time.Second))
	defer cancel()
	if err := s.node.SyncMeta(sctx); err != nil {
		msg := "cannot reach the metadata quorum: " + err.Error()
		resp.ErrorCode, resp.ErrorMessage = kerr.RequestTimedOut.Code, &msg
		if errors.Is(err, cluster.ErrNotMetaMember) {
			// Out of __meta for good (its vote taken, or removed):
			// NOT_CONTROLLER makes the client forget this broker as the
			// controller and ask Metadata elsewhere, where REQUEST_TIMED_OUT
			// would have it ask here again.
			resp.ErrorCode = kerr.NotController.Code
		}
		return resp
	}
	st := s.node.Meta()
	wanted := func(string, int32) bool { return true }
	if body.Topics != nil {
		asked := map[string]map[int32]bool{}
		for _, t := range body.Topics {
			if asked[t.Topic] == nil {
				asked[t.Topic] = map[int32]bool{}
			}
			for _, p := range t.Partitions {
				asked[t.Topic][p] = true
			}
		}
		wanted = func(topic string, p int32) bool { return asked[topic][p] }
	}
	byTopic := map[string][]kmsg.ListPartitionReassignmentsResponseTopicPartition{}
	for shard, move := range st.Reassignments {
		if !wanted(move.Topic, move.Partition) {
			continue
		}
		ref, ok := st.ReplicaSet(shard)
		if !ok {
			continue
		}
		rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		rp.Partition = move.Partition
		rp.Replicas = brokerIDs(ref.Partition.Replicas)
		rp.AddingReplicas = brokerIDs(move.Adding())
		rp.RemovingReplicas = brokerIDs(move.Removing())
		byTopic[move.Topic] = append(byTopic[move.Topic], rp)
	}
	for _, name := range sortedKeys(byTopic) {
		ps := byTopic[name]
		sort.Slice(ps, func(i, j int) bool { return ps[i].Partition < ps[j].Partition })
		rt := kmsg.NewListPartitionReassignmentsResponseTopic()
		rt.Topic, rt.Partitions = name, ps
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// brokerIDs converts replica ids to Kafka's int32 broker ids.
func brokerIDs(ids []uint64) []int32 {
	out := make([]int32, 0, len(ids))
	for _, id := range ids {
		out = append(out, int32(id))
	}
	return out
}
