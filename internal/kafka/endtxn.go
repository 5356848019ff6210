package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
)

// EndTxn v5 belongs to KIP-890's transaction version 2 (an epoch bump at
// every transaction end), which this broker does not offer: up to v4.
func init() { handles(0, 4, (*Server).endTxn) }

// endTxn commits or aborts a producer's transaction.
func (s *Server) endTxn(ctx context.Context, req *request, body *kmsg.EndTxnRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.EndTxnResponse)
	switch {
	case !s.authorizeTxnID(req, acl.OpWrite, body.TransactionalID):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
	case s.txns == nil:
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
	case body.TransactionalID == "":
		resp.ErrorCode = kerr.InvalidRequest.Code
	default:
		resp.ErrorCode = fencedBefore(s.txns.EndTxn(ctx, body.TransactionalID, body.ProducerID, body.ProducerEpoch, body.Commit), body.Version, 2)
	}
	return resp
}
