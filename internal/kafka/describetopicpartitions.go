package kafka

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/meta"
)

func init() { handles(0, 0, (*Server).describeTopicPartitions) }

// maxDescribePartitions is Kafka's max.request.partition.size.limit
// default: the most partitions one DescribeTopicPartitions answer holds,
// whatever the request's ResponsePartitionLimit.
const maxDescribePartitions = 2000

// describeTopicPartitions (DescribeTopicPartitions, key 75, KIP-966) pages
// through topics in name order: each answer holds at most the limit's
// partitions and a cursor to the first it left out.
func (s *Server) describeTopicPartitions(ctx context.Context, req *request, body *kmsg.DescribeTopicPartitionsRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.DescribeTopicPartitionsResponse)
	st := s.linearMeta(ctx)
	from, first := "", int32(0)
	if body.Cursor != nil {
		from, first = body.Cursor.Topic, body.Cursor.Partition
	}
	var names []string
	if len(body.Topics) == 0 {
		names = st.TopicNames()
		for _, t := range internalTopics(st) {
			names = append(names, t.Name)
		}
		// Only the topics the principal may describe, as Kafka.
		names = slices.DeleteFunc(names, func(n string) bool { return !s.authorizeTopic(req, acl.OpDescribe, n) })
		slices.Sort(names)
	} else {
		for _, t := range body.Topics {
			names = append(names, t.Topic)
		}
		slices.Sort(names)
		names = slices.Compact(names)
		if body.Cursor != nil && !slices.Contains(names, from) {
			// Kafka refuses a cursor outside the topics asked for.
			for _, name := range names {
				rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
				rt.Topic = &name
				rt.ErrorCode = kerr.InvalidRequest.Code
				resp.Topics = append(resp.Topics, rt)
			}
			return resp
		}
	}
	var down map[uint64]bool // probed once, when a partition is described
	remaining := min(int(body.ResponsePartitionLimit), maxDescribePartitions)
	for _, name := range names {
		if name < from {
			continue
		}
		if remaining <= 0 {
			if remaining == 0 {
				resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: 0}
			}
			break
		}
		rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
		rt.Topic = &name
		rt.IsInternal = isInternalTopic(name)
		if !s.authorizeTopic(req, acl.OpDescribe, name) {
			rt.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		t, ok := topicOrInternal(st, name)
		if !ok {
			rt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			if !validTopicName(name) {
				rt.ErrorCode = kerr.InvalidTopicException.Code
			}
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		rt.TopicID = t.ID
		rt.AuthorizedOperations = s.authorizedOperations(req, acl.ResourceTopic, name, topicOps)
		start := 0
		if name == from {
			start = min(int(max(first, 0)), len(t.Partitions))
		}
		end := min(len(t.Partitions), start+remaining)
		if down == nil && end > start {
			down = s.node.DownBrokers()
		}
		for _, p := range t.Partitions[start:end] {
			rt.Partitions = append(rt.Partitions, s.describePartition(p, down))
		}
		resp.Topics = append(resp.Topics, rt)
		if end < len(t.Partitions) {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: int32(end)}
			break
		}
		remaining -= end - start
	}
	return resp
}

func (s *Server) describePartition(p meta.Partition, down map[uint64]bool) kmsg.DescribeTopicPartitionsResponseTopicPartition {
	rp := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
	rp.Partition = p.Index
	pl := s.partitionLeadership(p)
	// Kafka tells a missing leader by LeaderID -1 here, not by an error.
	rp.LeaderID, rp.LeaderEpoch = pl.leader, pl.epoch
	rp.Replicas, rp.ISR = pl.replicas, pl.isr
	// Raft has no eligible leader replicas (KIP-966): every voter is one.
	rp.EligibleLeaderReplicas, rp.LastKnownELR = []int32{}, []int32{}
	rp.OfflineReplicas = []int32{}
	for _, r := range p.Replicas {
		if down[r] {
			rp.OfflineReplicas = append(rp.OfflineReplicas, int32(r))
		}
	}
	return rp
}
