package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
)

func init() { handles(0, 2, (*Server).deleteRecords) }

// deleteRecords (DeleteRecords, key 21) moves each partition's log start
// offset up to the requested offset (-1: the high watermark) through the
// partition's Raft log, so every replica agrees on it; segments wholly
// below it are deleted and the low watermark returned.
func (s *Server) deleteRecords(ctx context.Context, req *request, body *kmsg.DeleteRecordsRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.DeleteRecordsResponse)
	timeout := requestTimeout(body.TimeoutMillis, 30*time.Second)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, t := range body.Topics {
		rt := kmsg.NewDeleteRecordsResponseTopic()
		rt.Topic = t.Topic
		for _, tp := range t.Partitions {
			rp := kmsg.NewDeleteRecordsResponseTopicPartition()
			rp.Partition, rp.LowWatermark = tp.Partition, -1
			if !s.authorizeTopic(req, acl.OpDelete, t.Topic) {
				rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			} else {
				rp.LowWatermark, rp.ErrorCode = s.deletePartitionRecords(ctx, t.Topic, tp.Partition, tp.Offset)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (s *Server) deletePartitionRecords(ctx context.Context, topic string, idx int32, offset int64) (int64, int16) {
	p, code := s.localLeader(s.node.Meta(), topic, idx, -1)
	if code == 0 && s.catchUp(ctx, p.shard) != nil {
		code = kerr.NotLeaderForPartition.Code
	}
	if code != 0 {
		return -1, code
	}
	if offset == -1 {
		offset = p.HighWatermark()
	}
	if offset < 0 || offset > p.HighWatermark() {
		return -1, kerr.OffsetOutOfRange.Code
	}
	lso, code, err := s.node.AdvanceLogStart(ctx, p.shard, offset)
	if err != nil {
		return -1, proposeErrorCode(err)
	}
	if code != 0 {
		return -1, code
	}
	s.log.Info().Str("topic", topic).Int32("partition", idx).Int64("log_start_offset", lso).Msg("records deleted")
	return lso, 0
}
