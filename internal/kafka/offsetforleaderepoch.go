package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
)

func init() { handles(2, 4, (*Server).offsetForLeaderEpoch) }

// offsetForLeaderEpoch (OffsetForLeaderEpoch, key 23) tells a client that
// validates its position after a leader change where an epoch's records
// end. The leader epoch is the partition shard's Raft term; every replica
// keeps the same epoch history, since it is built by applying the log.
func (s *Server) offsetForLeaderEpoch(ctx context.Context, req *request, body *kmsg.OffsetForLeaderEpochRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	st := s.node.Meta()
	for _, t := range body.Topics {
		rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
		rt.Topic = t.Topic
		for _, tp := range t.Partitions {
			rp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			rp.Partition, rp.LeaderEpoch, rp.EndOffset = tp.Partition, -1, -1
			p, code := s.localLeader(st, t.Topic, tp.Partition, tp.CurrentLeaderEpoch)
			if !s.authorizeTopic(req, acl.OpDescribe, t.Topic) {
				code = kerr.TopicAuthorizationFailed.Code
			}
			if code == 0 && s.catchUp(ctx, p.shard) != nil {
				code = kerr.NotLeaderForPartition.Code
			}
			rp.ErrorCode = code
			if code == 0 {
				rp.LeaderEpoch, rp.EndOffset = p.OffsetForLeaderEpoch(tp.LeaderEpoch, int32(p.term))
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
