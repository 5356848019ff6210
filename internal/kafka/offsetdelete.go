package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { handles(0, 0, (*Server).offsetDelete) }

func (s *Server) offsetDelete(ctx context.Context, _ *request, body *kmsg.OffsetDeleteRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.OffsetDeleteResponse)
	shard, code := s.groupShard(body.Group)
	var codes map[string]map[int32]int16
	if code == 0 {
		parts := map[string][]int32{}
		for _, t := range body.Topics {
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
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
