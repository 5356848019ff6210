package txn

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/longboat/longboat/internal/group"
)

// AddPartitions adds partitions to a producer's transaction, starting it
// if none is ongoing, and answers a code per partition. With verifyOnly
// (AddPartitionsToTxn v4+ from a broker) nothing is added: each partition
// answers whether the ongoing transaction holds it. An unknown partition
// fails alone and the others answer OPERATION_NOT_ATTEMPTED, as Kafka does,
// so that nothing is half added.
func (c *Coordinator) AddPartitions(ctx context.Context, txnID string, pid int64, epoch int16, parts map[string][]int32, verifyOnly bool) map[string]map[int32]int16 {
	out := make(map[string]map[int32]int16, len(parts))
	all := func(code int16) map[string]map[int32]int16 {
		for t, ps := range parts {
			out[t] = map[int32]int16{}
			for _, p := range ps {
				out[t][p] = code
			}
		}
		return out
	}
	unlock := c.lock(txnID)
	defer unlock()
	s, code := c.load(ctx, txnID)
	if code != 0 {
		return all(code)
	}
	rec, found := s.sm.Txn(txnID)
	if code := checkProducer(rec, found, pid, epoch); code != 0 {
		return all(code)
	}
	if verifyOnly {
		for t, ps := range parts {
			out[t] = map[int32]int16{}
			for _, p := range ps {
				if rec.State == group.TxnOngoing && rec.HasPartition(t, p) {
					out[t][p] = 0
				} else {
					out[t][p] = kerr.InvalidTxnState.Code
				}
			}
		}
		return out
	}
	st := c.node.Meta()
	unknown := false
	for t, ps := range parts {
		out[t] = map[int32]int16{}
		topic := st.Topics[t]
		for _, p := range ps {
			if topic == nil || p < 0 || int(p) >= len(topic.Partitions) {
				out[t][p], unknown = kerr.UnknownTopicOrPartition.Code, true
			}
		}
	}
	if unknown {
		for t, ps := range parts {
			for _, p := range ps {
				if _, failed := out[t][p]; !failed {
					out[t][p] = kerr.OperationNotAttempted.Code
				}
			}
		}
		return out
	}
	rec = begin(rec)
	changed := false
	for t, ps := range parts {
		for _, p := range ps {
			if !rec.HasPartition(t, p) {
				rec.Partitions[t] = append(rec.Partitions[t], p)
				changed = true
			}
		}
	}
	if changed || rec.StartMs == 0 {
		if rec.StartMs == 0 {
			rec.StartMs = time.Now().UnixMilli()
		}
		_, code = c.putCode(ctx, s, rec)
	}
	return all(code)
}

// begin turns a record into an ongoing transaction, keeping one that is.
func begin(rec group.TxnRecord) group.TxnRecord {
	if rec.State != group.TxnOngoing {
		rec.State, rec.Partitions, rec.Groups, rec.StartMs = group.TxnOngoing, nil, nil, 0
	}
	if rec.Partitions == nil {
		rec.Partitions = map[string][]int32{}
	}
	return rec
}

// AddOffsets adds a consumer group to a producer's transaction: its
// TxnOffsetCommits become visible when the transaction commits.
func (c *Coordinator) AddOffsets(ctx context.Context, txnID string, pid int64, epoch int16, groupID string) int16 {
	if groupID == "" {
		return kerr.InvalidGroupID.Code
	}
	unlock := c.lock(txnID)
	defer unlock()
	s, code := c.load(ctx, txnID)
	if code != 0 {
		return code
	}
	rec, found := s.sm.Txn(txnID)
	if code := checkProducer(rec, found, pid, epoch); code != 0 {
		return code
	}
	rec = begin(rec)
	if rec.HasGroup(groupID) && rec.StartMs != 0 {
		return 0
	}
	if !rec.HasGroup(groupID) {
		rec.Groups = append(rec.Groups, groupID)
		slices.Sort(rec.Groups)
	}
	if rec.StartMs == 0 {
		rec.StartMs = time.Now().UnixMilli()
	}
	_, code = c.putCode(ctx, s, rec)
	return code
}

// EndTxn commits or aborts a producer's transaction: PrepareCommit or
// PrepareAbort is durable before this returns, and it waits (a bounded
// time) for the markers so that a read_committed consumer sees the outcome
// soon after. A retried EndTxn of a transaction already ended the same way
// succeeds; ending one that is not ongoing, or the other way, is
// INVALID_TXN_STATE.
func (c *Coordinator) EndTxn(ctx context.Context, txnID string, pid int64, epoch int16, commit bool) int16 {
	unlock := c.lock(txnID)
	s, code := c.load(ctx, txnID)
	if code != 0 {
		unlock()
		return code
	}
	rec, found := s.sm.Txn(txnID)
	switch {
	case !found || rec.ProducerID != pid:
		code = kerr.InvalidProducerIDMapping.Code
	case epoch != rec.Epoch:
		code = kerr.ProducerFenced.Code
	case rec.State == group.TxnOngoing:
		rec, code = c.prepareEnd(ctx, s, rec, commit, false)
		unlock()
		if code == 0 {
			c.awaitComplete(ctx, s, rec)
		}
		return code
	case rec.State == group.TxnCompleteCommit && commit, rec.State == group.TxnCompleteAbort && !commit:
		code = 0
	case rec.State == group.TxnPrepareCommit && commit, rec.State == group.TxnPrepareAbort && !commit:
		c.complete(s, rec)
		code = kerr.ConcurrentTransactions.Code
	default:
		code = kerr.InvalidTxnState.Code
	}
	unlock()
	return code
}

// VerifyOffsets tells a group coordinator whether a TxnOffsetCommit
// belongs to an ongoing transaction of the producer that added the group.
// It reads the transaction's shard from this broker's replica after a
// ReadIndex (group shards have up to three replicas: every broker of a
// cluster of three holds them all); a broker without a replica cannot
// check and accepts, as Kafka before KIP-890's verification did.
func (c *Coordinator) VerifyOffsets(ctx context.Context, txnID string, pid int64, epoch int16, groupID string) int16 {
	id, ok := c.node.GroupShardFor(txnID)
	if !ok {
		return kerr.CoordinatorNotAvailable.Code
	}
	sm, ok := c.node.GroupStateMachine(id)
	if !ok {
		return 0
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := c.node.ReadIndex(rctx, id)
	cancel()
	if err != nil {
		return kerr.CoordinatorLoadInProgress.Code
	}
	rec, found := sm.Txn(txnID)
	switch {
	case !found || rec.ProducerID != pid:
		return kerr.InvalidProducerIDMapping.Code
	case epoch != rec.Epoch:
		return kerr.ProducerFenced.Code
	case rec.State != group.TxnOngoing || !rec.HasGroup(groupID):
		return kerr.InvalidTxnState.Code
	}
	return 0
}
