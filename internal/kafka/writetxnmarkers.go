package kafka

import (
	"context"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/partition"
	"github.com/longboat/longboat/internal/txnmarker"
)

// v0 and v1 (flexible) carry the same fields; v2 (Kafka 4.2) adds the
// transaction version.
func init() { handles(0, 1, (*Server).writeTxnMarkers) }

// markerTimeout bounds the wait for one marker's commit: the request
// carries no timeout of its own.
const markerTimeout = 30 * time.Second

// pendingMarker is one partition's marker proposal in flight.
type pendingMarker struct {
	resp *kmsg.WriteTxnMarkersResponseMarkerTopicPartition
	rs   *dragonboat.RequestState
	led  led
}

// writeTxnMarkers (WriteTxnMarkers, key 27) is what a transaction
// coordinator sends each partition leader to end a transaction: for every
// partition this broker leads, a COMMIT or ABORT control batch goes through
// the partition's Raft log (partition.EncodeMarker), which also closes the
// producer's transaction there. Every proposal starts before any is waited
// for, in request order.
func (s *Server) writeTxnMarkers(ctx context.Context, req *request, body *kmsg.WriteTxnMarkersRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	st := s.node.Meta()
	now := time.Now().UnixMilli()
	var pending []pendingMarker
	clusterAction := s.authorizeCluster(req, acl.OpClusterAction)
	resp.Markers = make([]kmsg.WriteTxnMarkersResponseMarker, len(body.Markers))
	for i, m := range body.Markers {
		seq := txnmarker.Seq(&m)
		rm := &resp.Markers[i]
		*rm = kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		rm.Topics = make([]kmsg.WriteTxnMarkersResponseMarkerTopic, len(m.Topics))
		for j, t := range m.Topics {
			rt := &rm.Topics[j]
			*rt = kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			rt.Partitions = make([]kmsg.WriteTxnMarkersResponseMarkerTopicPartition, len(t.Partitions))
			logAppendTime := s.topicLog(st, t.Topic).LogAppendTime
			for k, idx := range t.Partitions {
				rp := &rt.Partitions[k]
				*rp = kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition = idx
				if !clusterAction {
					rp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
					continue
				}
				if m.ProducerID < 0 || m.ProducerEpoch < 0 {
					rp.ErrorCode = kerr.InvalidProducerIDMapping.Code
					continue
				}
				if t.Topic == consumerOffsetsTopic {
					rp.ErrorCode = s.endOffsetsMarker(ctx, st, idx, m.ProducerID, m.Committed, seq)
					continue
				}
				l, code := s.localLeader(st, t.Topic, idx, -1)
				if code != 0 {
					rp.ErrorCode = code
					continue
				}
				cmd := partition.EncodeMarker(partition.MarkerCommand{Term: l.term, NowMs: now, ProducerID: m.ProducerID,
					ProducerEpoch: m.ProducerEpoch, CoordinatorEpoch: m.CoordinatorEpoch, Commit: m.Committed, LogAppendTime: logAppendTime, Seq: seq})
				rs, err := s.proposeAppend(ctx, l.shard, cmd, markerTimeout)
				if err != nil {
					rp.ErrorCode = proposeErrorCode(err)
					continue
				}
				pending = append(pending, pendingMarker{resp: rp, rs: rs, led: l})
			}
		}
	}
	for _, pm := range pending {
		pm.resp.ErrorCode = s.finishMarker(pm)
	}
	return resp
}

// finishMarker waits for one marker's commit, as finishAppend does for a
// produce, and returns its error code.
func (s *Server) finishMarker(pm pendingMarker) int16 {
	res, ok := s.awaitWhileLeader(pm.rs, pm.led)
	if !ok {
		return kerr.NotLeaderForPartition.Code
	}
	pm.rs.Release()
	switch {
	case res.Completed():
		_, code := partition.MarkerResult(res.GetResult())
		return code
	case res.Timeout():
		return kerr.RequestTimedOut.Code
	default:
		return kerr.NotLeaderForPartition.Code
	}
}
