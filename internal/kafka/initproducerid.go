package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { handles(0, 5, (*Server).initProducerID) }

// initProducerID gives an idempotent producer a new producer id at epoch 0.
// Ids come from blocks allocated through __meta, so they are unique across
// the cluster and never reused. As in Kafka, a producer without a
// transactional id always gets a fresh id, also when it re-initialises
// after an error (KIP-360); transactions are not supported yet.
func (s *Server) initProducerID(ctx context.Context, _ *request, body *kmsg.InitProducerIDRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.InitProducerIDResponse)
	if body.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
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
