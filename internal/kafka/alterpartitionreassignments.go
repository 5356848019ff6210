package kafka

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/meta"
)

func init() { handles(0, 1, (*Server).alterPartitionReassignments) }

// alterPartitionReassignments (AlterPartitionReassignments, key 45)
// records each partition's target replica set in __meta, or (a null list)
// cancels its move, and answers once recorded; the shard's leader then
// moves it one Raft membership change at a time (cluster/reassign.go) and
// ListPartitionReassignments shows it until done. As Kafka's controller,
// it needs ALTER on the cluster.
func (s *Server) alterPartitionReassignments(ctx context.Context, req *request, body *kmsg.AlterPartitionAssignmentsRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = body.AllowReplicationFactorChange
	denied := !s.authorizeCluster(req, acl.OpAlter)
	if denied {
		msg := "Authorization failed."
		resp.ErrorCode, resp.ErrorMessage = kerr.ClusterAuthorizationFailed.Code, &msg
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout(body.TimeoutMillis, 60*time.Second))
	defer cancel()
	var st *meta.State
	if !denied {
		st = s.linearMeta(ctx)
	}
	// One proposal per partition, all at once: a request naming many
	// partitions takes one __meta commit's time, not one per partition.
	var wg sync.WaitGroup
	for _, t := range body.Topics {
		rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.AlterPartitionAssignmentsResponseTopicPartition, len(t.Partitions))
		for i, p := range t.Partitions {
			rp := &rt.Partitions[i]
			*rp = kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			rp.Partition = p.Partition
			if denied {
				rp.ErrorCode, rp.ErrorMessage = resp.ErrorCode, resp.ErrorMessage
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if code, msg := s.reassignPartition(ctx, st, t.Topic, p.Partition, p.Replicas, body.AllowReplicationFactorChange); code != 0 {
					rp.ErrorCode, rp.ErrorMessage = code, &msg
				}
			}()
		}
		resp.Topics = append(resp.Topics, rt)
	}
	wg.Wait()
	return resp
}

// reassignPartition proposes one partition's move (replicas nil: its
// cancel) and returns Kafka's error code and message for it.
func (s *Server) reassignPartition(ctx context.Context, st *meta.State, topic string, idx int32, replicas []int32, allowRFChange bool) (int16, string) {
	t, ok := topicOrInternal(st, topic) // __consumer_offsets moves a group shard
	if !ok || idx < 0 || int(idx) >= len(t.Partitions) {
		return kerr.UnknownTopicOrPartition.Code, "unknown topic or partition"
	}
	c := &meta.Reassign{Topic: topic, Partition: idx, Cancel: replicas == nil, StartedMs: time.Now().UnixMilli()}
	if !c.Cancel {
		ids, err := replicaIDs(replicas)
		if err != nil {
			return kerr.InvalidReplicaAssignment.Code, err.Error()
		}
		down := s.node.DownBrokers()
		for _, r := range ids {
			if down[r] {
				return kerr.InvalidReplicaAssignment.Code, fmt.Sprintf("broker %d is down", r)
			}
		}
		c.Replicas = ids
		if cur := len(t.Partitions[idx].Replicas); !allowRFChange && len(replicas) != cur {
			if move, moving := st.Reassignment(t.Partitions[idx].ShardID); moving {
				cur = len(move.Original)
			}
			if len(replicas) != cur {
				return kerr.InvalidReplicationFactor.Code, fmt.Sprintf("the replication factor would change from %d to %d and the request does not allow it", cur, len(replicas))
			}
		}
	}
	if _, err := s.node.ProposeMeta(ctx, meta.Command{Reassign: c}); err != nil {
		return metaErrorCode(err)
	}
	return 0, ""
}
