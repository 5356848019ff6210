package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
)

func init() { handles(0, 5, (*Server).initProducerID) }

// initProducerID gives an idempotent producer a new producer id at epoch 0,
// and a transactional producer its id's producer id at a new epoch from
// the transaction coordinator (which must be this broker). Ids come from
// blocks allocated through __meta, so they are unique across the cluster
// and never reused. As in Kafka, a producer without a transactional id
// always gets a fresh id, also when it re-initialises after an error
// (KIP-360).
func (s *Server) initProducerID(ctx context.Context, req *request, body *kmsg.InitProducerIDRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if body.TransactionalID == nil && !s.authorizeIdempotent(req) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
	if body.TransactionalID != nil {
		switch {
		case *body.TransactionalID != "" && !s.authorizeTxnID(req, acl.OpWrite, *body.TransactionalID):
			resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		case *body.TransactionalID == "":
			resp.ErrorCode = kerr.InvalidRequest.Code
		case s.txns == nil:
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		default:
			pid, epoch := int64(-1), int16(-1) // KIP-360's fields arrived in v3
			if body.Version >= 3 {
				pid, epoch = body.ProducerID, body.ProducerEpoch
			}
			var code int16
			resp.ProducerID, resp.ProducerEpoch, code = s.txns.InitProducerID(ctx, *body.TransactionalID, body.TransactionTimeoutMillis, pid, epoch)
			resp.ErrorCode = fencedBefore(code, body.Version, 4)
		}
		return resp
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	id, err := s.node.NextProducerID(ctx)
	if err != nil {
		resp.ErrorCode, _ = metaErrorCode(err)
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp
}
