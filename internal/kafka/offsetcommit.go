package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) offsetCommit(ctx context.Context, body *kmsg.OffsetCommitRequest) kmsg.Response {
	shard, code := s.groupShard(body.Group)
	if code != 0 {
		resp := body.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, t := range body.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	return s.groups.OffsetCommit(ctx, shard, body)
}
