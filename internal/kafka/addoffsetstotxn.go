package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { handles(0, 4, (*Server).addOffsetsToTxn) }

// addOffsetsToTxn adds a consumer group to a producer's transaction, so
// that the offsets it commits with TxnOffsetCommit commit with it.
func (s *Server) addOffsetsToTxn(ctx context.Context, _ *request, body *kmsg.AddOffsetsToTxnRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	switch {
	case s.txns == nil:
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
	case body.TransactionalID == "":
		resp.ErrorCode = kerr.InvalidRequest.Code
	default:
		resp.ErrorCode = fencedBefore(s.txns.AddOffsets(ctx, body.TransactionalID, body.ProducerID, body.ProducerEpoch, body.Group), body.Version, 2)
	}
	return resp
}
