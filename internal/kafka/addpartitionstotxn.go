package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
)

func init() { handles(0, 5, (*Server).addPartitionsToTxn) }

// addPartitionsToTxn adds partitions to a producer's transaction. v0-3 is
// a producer's single transaction; v4+ is Kafka's batched form brokers use
// to add or (VerifyOnly) check partitions of several transactions.
func (s *Server) addPartitionsToTxn(ctx context.Context, req *request, body *kmsg.AddPartitionsToTxnRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if body.Version < 4 {
		parts := map[string][]int32{}
		for _, t := range body.Topics {
			parts[t.Topic] = append(parts[t.Topic], t.Partitions...)
		}
		codes := s.deniedTxnPartitions(req, body.TransactionalID, parts)
		if codes == nil {
			codes = s.addPartitions(ctx, body.TransactionalID, body.ProducerID, body.ProducerEpoch, parts, false, body.Version)
		}
		for _, t := range body.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, codes[t.Topic][p]
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	// v4+ is sent by brokers (KIP-890), as Kafka: CLUSTER_ACTION.
	if !s.authorizeCluster(req, acl.OpClusterAction) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
	for _, tx := range body.Transactions {
		parts := map[string][]int32{}
		for _, t := range tx.Topics {
			parts[t.Topic] = append(parts[t.Topic], t.Partitions...)
		}
		codes := s.addPartitions(ctx, tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, parts, tx.VerifyOnly, body.Version)
		rtx := kmsg.NewAddPartitionsToTxnResponseTransaction()
		rtx.TransactionalID = tx.TransactionalID
		for _, t := range tx.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
				rp.Partition, rp.ErrorCode = p, codes[t.Topic][p]
				rt.Partitions = append(rt.Partitions, rp)
			}
			rtx.Topics = append(rtx.Topics, rt)
		}
		resp.Transactions = append(resp.Transactions, rtx)
	}
	return resp
}

func (s *Server) addPartitions(ctx context.Context, txnID string, pid int64, epoch int16, parts map[string][]int32, verifyOnly bool, version int16) map[string]map[int32]int16 {
	var codes map[string]map[int32]int16
	if s.txns == nil || txnID == "" {
		code := kerr.CoordinatorNotAvailable.Code
		if txnID == "" {
			code = kerr.InvalidRequest.Code
		}
		codes = map[string]map[int32]int16{}
		for t, ps := range parts {
			codes[t] = map[int32]int16{}
			for _, p := range ps {
				codes[t][p] = code
			}
		}
		return codes
	}
	codes = s.txns.AddPartitions(ctx, txnID, pid, epoch, parts, verifyOnly)
	for _, ps := range codes {
		for p, code := range ps {
			ps[p] = fencedBefore(code, version, 2)
		}
	}
	return codes
}
