package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/group"
	"github.com/longboat/longboat/internal/meta"
)

// TxnOffsetCommit v5 belongs to KIP-890's transaction version 2, which this
// broker does not offer: up to v4.
func init() { handlesInOrder(0, 4, (*Server).txnOffsetCommit) }

// txnOffsetCommit, on the group's coordinator, stores a transaction's
// offsets for the group, visible when the transaction commits. The
// transaction must be ongoing at the producer's epoch with the group
// added (AddOffsetsToTxn): otherwise nothing is stored.
func (s *Server) txnOffsetCommit(ctx context.Context, req *request, body *kmsg.TxnOffsetCommitRequest) kmsg.Response {
	if body.Group == "" {
		return group.TxnOffsetCommitAnswer(body, kerr.InvalidGroupID.Code)
	}
	if s.txns == nil {
		return group.TxnOffsetCommitAnswer(body, kerr.CoordinatorNotAvailable.Code)
	}
	if body.TransactionalID == "" {
		return group.TxnOffsetCommitAnswer(body, kerr.InvalidRequest.Code)
	}
	if !s.authorizeTxnID(req, acl.OpWrite, body.TransactionalID) {
		return group.TxnOffsetCommitAnswer(body, kerr.TransactionalIDAuthorizationFailed.Code)
	}
	shard, code := s.authorizedGroupShard(req, acl.OpRead, body.Group)
	if code != 0 {
		return group.TxnOffsetCommitAnswer(body, code)
	}
	// As Kafka: topics the principal may not READ answer
	// TOPIC_AUTHORIZATION_FAILED, the others are committed.
	allowed, denied := *body, &kmsg.TxnOffsetCommitRequest{Version: body.Version}
	allowed.Topics = nil
	for _, t := range body.Topics {
		if s.authorizeTopic(req, acl.OpRead, t.Topic) {
			allowed.Topics = append(allowed.Topics, t)
		} else {
			denied.Topics = append(denied.Topics, t)
		}
	}
	if len(denied.Topics) == 0 {
		return s.commitTxnOffsets(ctx, shard, body)
	}
	resp := group.TxnOffsetCommitAnswer(denied, kerr.TopicAuthorizationFailed.Code)
	if len(allowed.Topics) > 0 {
		resp.Topics = append(s.commitTxnOffsets(ctx, shard, &allowed).Topics, resp.Topics...)
	}
	return resp
}

func (s *Server) commitTxnOffsets(ctx context.Context, shard uint64, body *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	if _, leader := s.node.IsLeader(shard); !leader {
		return group.TxnOffsetCommitAnswer(body, kerr.NotCoordinator.Code)
	}
	if code := s.txns.VerifyOffsets(ctx, body.TransactionalID, body.ProducerID, body.ProducerEpoch, body.Group); code != 0 {
		return group.TxnOffsetCommitAnswer(body, fencedBefore(code, body.Version, 3))
	}
	return s.groups.TxnOffsetCommit(ctx, shard, body)
}

// markUnstable answers UNSTABLE_OFFSET_COMMIT, for an OffsetFetch that
// requires stable offsets (v7+, KIP-447), for each partition with a
// transactional offset still pending: the consumer retries until the
// transaction ends instead of starting from an offset about to move.
// The group's offsets were just read from the shard after a ReadIndex.
func (s *Server) markUnstable(shard uint64, groupID string, out *kmsg.OffsetFetchResponseGroup) {
	sm, ok := s.node.GroupStateMachine(shard)
	if !ok {
		return
	}
	pending := map[string]map[int32]bool{}
	for _, parts := range sm.PendingTxnOffsets(groupID) {
		for t, ps := range parts {
			if pending[t] == nil {
				pending[t] = map[int32]bool{}
			}
			for _, p := range ps {
				pending[t][p] = true
			}
		}
	}
	for i := range out.Topics {
		for j := range out.Topics[i].Partitions {
			rp := &out.Topics[i].Partitions[j]
			if pending[out.Topics[i].Topic][rp.Partition] {
				rp.ErrorCode, rp.Offset = kerr.UnstableOffsetCommit.Code, -1
			}
		}
	}
}

// endOffsetsMarker applies a transaction marker written to partition idx
// of __consumer_offsets, as Kafka's group coordinator does: the producer's
// pending offsets in every group of that group shard are committed or
// dropped. The transaction coordinator sends it when it holds no replica
// of the group's shard to propose to.
func (s *Server) endOffsetsMarker(ctx context.Context, st *meta.State, idx int32, pid int64, commit bool, seq int64) int16 {
	if idx < 0 || int(idx) >= len(st.GroupShards) {
		return kerr.UnknownTopicOrPartition.Code
	}
	shard := st.GroupShards[idx].ShardID
	if _, leader := s.node.IsLeader(shard); !leader {
		return kerr.NotLeaderForPartition.Code
	}
	cmd := group.Command{Txn: &group.TxnCommand{End: &group.TxnOffsetsEnd{ProducerID: pid, Commit: commit, Seq: seq}}}.Encode()
	if err := s.node.ProposeGroup(ctx, shard, cmd); err != nil {
		s.log.Warn().Err(err).Int32("partition", idx).Int64("producer_id", pid).Msg("transaction marker on __consumer_offsets")
		return kerr.NotLeaderForPartition.Code
	}
	return 0
}
