package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
)

// Special ListOffsets timestamps (KIP-734, KIP-405, KIP-1005).
const (
	tsLatest        = -1
	tsEarliest      = -2
	tsMaxTimestamp  = -3
	tsEarliestLocal = -4
	tsLatestTiered  = -5
)

func init() { handles(1, 10, (*Server).listOffsets) }

func (s *Server) listOffsets(ctx context.Context, req *request, body *kmsg.ListOffsetsRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.ListOffsetsResponse)
	st := s.node.Meta()
	for _, t := range body.Topics {
		rt := kmsg.NewListOffsetsResponseTopic()
		rt.Topic = t.Topic
		allowed := s.authorizeTopic(req, acl.OpDescribe, t.Topic)
		for _, tp := range t.Partitions {
			if !allowed {
				rp := kmsg.NewListOffsetsResponseTopicPartition()
				rp.Partition, rp.Timestamp, rp.Offset, rp.ErrorCode = tp.Partition, -1, -1, kerr.TopicAuthorizationFailed.Code
				rt.Partitions = append(rt.Partitions, rp)
				continue
			}
			if s.listInternalOffsets(ctx, st, t.Topic, body.Version, tp, &rt) {
				continue
			}
			rp := kmsg.NewListOffsetsResponseTopicPartition()
			rp.Partition = tp.Partition
			rp.Timestamp, rp.Offset = -1, -1
			p, code := s.localLeader(st, t.Topic, tp.Partition, epochIf(body.Version >= 4, tp.CurrentLeaderEpoch))
			if code == 0 && s.catchUp(ctx, p.shard) != nil {
				code = kerr.NotLeaderForPartition.Code
			}
			if code != 0 {
				rp.ErrorCode = code
				rt.Partitions = append(rt.Partitions, rp)
				continue
			}
			rp.LeaderEpoch = int32(p.term)
			// As in Kafka, read_committed (v2+) sees the log up to the last
			// stable offset: the latest offset is the LSO and a timestamp
			// found past it counts as not found.
			fetchable := p.HighWatermark()
			if body.IsolationLevel == 1 {
				fetchable = p.LastStableOffset()
			}
			switch tp.Timestamp {
			case tsLatest:
				rp.Offset = fetchable
			case tsEarliest, tsEarliestLocal:
				rp.Offset = p.LogStartOffset()
			case tsLatestTiered:
				// Nothing is tiered: Kafka answers -1 when no offset was uploaded.
			case tsMaxTimestamp:
				off, ts, found, err := p.MaxTimestamp()
				if err != nil {
					rp.ErrorCode = kerr.KafkaStorageError.Code
				} else if found && off < fetchable {
					rp.Offset, rp.Timestamp = off, ts
				}
			default:
				off, ts, found, err := p.OffsetForTimestamp(tp.Timestamp)
				switch {
				case err != nil:
					rp.ErrorCode = kerr.KafkaStorageError.Code
				case found && off < fetchable:
					rp.Offset, rp.Timestamp = off, ts
				}
			}
			if body.Version == 0 && rp.Offset >= 0 {
				rp.OldStyleOffsets = []int64{rp.Offset}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
