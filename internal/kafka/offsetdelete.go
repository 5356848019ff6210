package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
)

func init() { handlesInOrder(0, 0, (*Server).offsetDelete) }

func (s *Server) offsetDelete(ctx context.Context, req *request, body *kmsg.OffsetDeleteRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.OffsetDeleteResponse)
	shard, code := s.authorizedGroupShard(req, acl.OpDelete, body.Group)
	var codes map[string]map[int32]int16
	if code == 0 {
		parts := map[string][]int32{}
		for _, t := range body.Topics {
			if !s.authorizeTopic(req, acl.OpRead, t.Topic) {
				continue // answered TOPIC_AUTHORIZATION_FAILED below
			}
			for _, p := range t.Partitions {
				parts[t.Topic] = append(parts[t.Topic], p.Partition)
			}
		}
		codes, code = s.groups.DeleteOffsets(ctx, shard, body.Group, parts)
	}
	resp.ErrorCode = code
	if code != 0 {
		return resp
	}
	for _, t := range body.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, codes[t.Topic][p.Partition]
			if !s.authorizeTopic(req, acl.OpRead, t.Topic) {
				rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
