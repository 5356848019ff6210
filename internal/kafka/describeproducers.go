package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
)

func init() { handles(0, 0, (*Server).describeProducers) }

// describeProducers (DescribeProducers, key 61) lists, for each partition
// this broker leads, the producers its state machine remembers, with the
// coordinator epoch of each one's last marker and the first offset of its
// open transaction (-1 for none).
func (s *Server) describeProducers(ctx context.Context, req *request, body *kmsg.DescribeProducersRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.DescribeProducersResponse)
	st := s.node.Meta()
	for _, t := range body.Topics {
		rt := kmsg.NewDescribeProducersResponseTopic()
		rt.Topic = t.Topic
		for _, idx := range t.Partitions {
			rp := kmsg.NewDescribeProducersResponseTopicPartition()
			rp.Partition = idx
			p, code := s.localLeader(st, t.Topic, idx, -1)
			if !s.authorizeTopic(req, acl.OpRead, t.Topic) {
				code = kerr.TopicAuthorizationFailed.Code
			}
			if code == 0 && s.catchUp(ctx, p.shard) != nil {
				// A new leader must first apply what its predecessor committed.
				code = kerr.NotLeaderForPartition.Code
			}
			rp.ErrorCode = code
			if code == 0 {
				rp.ActiveProducers = []kmsg.DescribeProducersResponseTopicPartitionActiveProducer{}
				for _, ps := range p.ActiveProducers() {
					ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
					ap.ProducerID, ap.ProducerEpoch = ps.ID, int32(ps.Epoch)
					ap.LastSequence, ap.LastTimestamp = ps.LastSequence, ps.LastTimestamp
					ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = ps.CoordinatorEpoch, ps.TxnStartOffset
					rp.ActiveProducers = append(rp.ActiveProducers, ap)
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
