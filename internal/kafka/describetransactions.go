package kafka

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/group"
)

func init() { handles(0, 0, (*Server).describeTransactions) }

// describeTransactions reports the transactional ids this broker
// coordinates (NOT_COORDINATOR for the others).
func (s *Server) describeTransactions(ctx context.Context, req *request, body *kmsg.DescribeTransactionsRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range body.TransactionalIDs {
		ts := kmsg.NewDescribeTransactionsResponseTransactionState()
		ts.TransactionalID, ts.StartTimestamp, ts.ProducerID, ts.ProducerEpoch = id, -1, -1, -1
		var (
			rec  group.TxnRecord
			code = kerr.CoordinatorNotAvailable.Code
		)
		switch {
		case !s.authorizeTxnID(req, acl.OpDescribe, id):
			code = kerr.TransactionalIDAuthorizationFailed.Code
		case s.txns != nil:
			rec, code = s.txns.Describe(ctx, id)
		}
		ts.ErrorCode = code
		if code == 0 {
			ts.State, ts.TimeoutMillis, ts.ProducerID, ts.ProducerEpoch = rec.State, rec.TimeoutMs, rec.ProducerID, rec.Epoch
			if rec.StartMs > 0 {
				ts.StartTimestamp = rec.StartMs
			}
			topics := make([]string, 0, len(rec.Partitions))
			for t := range rec.Partitions {
				topics = append(topics, t)
			}
			sort.Strings(topics)
			for _, t := range topics {
				rt := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
				rt.Topic, rt.Partitions = t, rec.Partitions[t]
				ts.Topics = append(ts.Topics, rt)
			}
		}
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	return resp
}
