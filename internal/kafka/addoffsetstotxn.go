package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
)

func init() { handles(0, 4, (*Server).addOffsetsToTxn) }

// addOffsetsToTxn adds a consumer group to a producer's transaction, so
// that the offsets it commits with TxnOffsetCommit commit with it.
func (s *Server) addOffsetsToTxn(ctx context.Context, req *request, body *kmsg.AddOffsetsToTxnRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	switch {
	case !s.authorizeTxnID(req, acl.OpWrite, body.TransactionalID):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
	case !s.authorizeGroup(req, acl.OpRead, body.Group):
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
	case s.txns == nil:
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
	case body.TransactionalID == "":
		resp.ErrorCode = kerr.InvalidRequest.Code
	default:
		resp.ErrorCode = fencedBefore(s.txns.AddOffsets(ctx, body.TransactionalID, body.ProducerID, body.ProducerEpoch, body.Group), body.Version, 2)
	}
	return resp
}
