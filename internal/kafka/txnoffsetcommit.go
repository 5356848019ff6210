package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/group"
)

// TxnOffsetCommit v5 belongs to KIP-890's transaction version 2, which this
// broker does not offer: up to v4.
func init() { handles(0, 4, (*Server).txnOffsetCommit) }

// txnOffsetCommit, on the group's coordinator, stores a transaction's
// offsets for the group, visible when the transaction commits. The
// transaction must be ongoing at the producer's epoch with the group
// added (AddOffsetsToTxn): otherwise nothing is stored.
func (s *Server) txnOffsetCommit(ctx context.Context, _ *request, body *kmsg.TxnOffsetCommitRequest) kmsg.Response {
	if body.Group == "" {
		return group.TxnOffsetCommitAnswer(body, kerr.InvalidGroupID.Code)
	}
	if s.txns == nil {
		return group.TxnOffsetCommitAnswer(body, kerr.CoordinatorNotAvailable.Code)
	}
	if body.TransactionalID == "" {
		return group.TxnOffsetCommitAnswer(body, kerr.InvalidRequest.Code)
	}
	shard, code := s.groupShard(body.Group)
	if code != 0 {
		return group.TxnOffsetCommitAnswer(body, code)
	}
	if _, leader := s.node.IsLeader(shard); !leader {
		return group.TxnOffsetCommitAnswer(body, kerr.NotCoordinator.Code)
	}
	if code := s.txns.VerifyOffsets(ctx, body.TransactionalID, body.ProducerID, body.ProducerEpoch, body.Group); code != 0 {
		return group.TxnOffsetCommitAnswer(body, fencedBefore(code, body.Version, 3))
	}
	return s.groups.TxnOffsetCommit(ctx, shard, body)
}
