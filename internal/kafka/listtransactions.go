package kafka

import (
	"context"
	"regexp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/group"
)

func init() { handles(0, 2, (*Server).listTransactions) }

// txnStates are the states ListTransactions may filter on.
var txnStates = []string{group.TxnEmpty, group.TxnOngoing, group.TxnPrepareCommit, group.TxnPrepareAbort,
	group.TxnCompleteCommit, group.TxnCompleteAbort, "PrepareEpochFence", "Dead"}

// listTransactions lists the transactional ids this broker coordinates,
// filtered by state, producer id, duration (v1+) and id pattern (v2+,
// re2 syntax as Kafka's).
func (s *Server) listTransactions(ctx context.Context, req *request, body *kmsg.ListTransactionsRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.ListTransactionsResponse)
	if s.txns == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	var pattern *regexp.Regexp
	if body.Version >= 2 && body.TransactionalIDPattern != nil && *body.TransactionalIDPattern != "" {
		re, err := regexp.Compile(*body.TransactionalIDPattern)
		if err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return resp
		}
		pattern = re
	}
	for _, st := range body.StateFilters {
		if !slices.Contains(txnStates, st) {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, st)
		}
	}
	recs, code := s.txns.List(ctx)
	resp.ErrorCode = code
	now := time.Now().UnixMilli()
	for _, rec := range recs {
		switch {
		case len(body.StateFilters) > 0 && !slices.Contains(body.StateFilters, rec.State),
			len(body.ProducerIDFilters) > 0 && !slices.Contains(body.ProducerIDFilters, rec.ProducerID),
			body.Version >= 1 && body.DurationFilterMillis >= 0 && (rec.StartMs == 0 || now-rec.StartMs < body.DurationFilterMillis),
			pattern != nil && !pattern.MatchString(rec.ID),
			!s.authorizeTxnID(req, acl.OpDescribe, rec.ID):
			continue
		}
		ts := kmsg.NewListTransactionsResponseTransactionState()
		ts.TransactionalID, ts.ProducerID, ts.TransactionState = rec.ID, rec.ProducerID, rec.State
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	return resp
}
