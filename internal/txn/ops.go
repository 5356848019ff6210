package txn

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/longboat/longboat/internal/group"
)

// current reads a transactional id's record for a request of its producer
// that starts or extends a transaction, and answers the request's error
// code. A previous transaction of the producer still completing is waited
// for (afterPrepared); release is called after the request's write.
func (c *Coordinator) current(ctx context.Context, s shard, txnID string, pid int64, epoch int16) (group.TxnRecord, func(), int16) {
	rec, found := s.sm.Txn(txnID)
	if found && rec.ProducerID == pid && rec.Epoch == epoch && prepared(rec.State) {
		next, release, code := c.afterPrepared(ctx, s, rec)
		if code != 0 || prepared(next.State) {
			return next, release, code
		}
		rec = next
	}
	return rec, func() {}, checkProducer(rec, found, pid, epoch)
}

// prepared tells whether a state is PrepareCommit or PrepareAbort.
func prepared(state string) bool {
	return state == group.TxnPrepareCommit || state == group.TxnPrepareAbort
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
	rec, release, code := c.current(ctx, s, txnID, pid, epoch)
	defer release()
	if code != 0 {
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

// EndTxn commits or aborts a producer's transaction: it answers once
// PrepareCommit or PrepareAbort is durable; the markers are written after. A retried EndTxn of a transaction already ended the same way
// succeeds; ending one that is not ongoing, or the other way, is
// INVALID_TXN_STATE.
func (c *Coordinator) EndTxn(ctx context.Context, txnID string, pid int64, epoch int16, commit bool) int16 {
	unlock := c.lock(txnID)
	defer unlock()
	s, code := c.load(ctx, txnID)
	if code != 0 {
		return code
	}
	rec, found := s.sm.Txn(txnID)
	switch {
	case !found || rec.ProducerID != pid:
		code = kerr.InvalidProducerIDMapping.Code
	case epoch != rec.Epoch:
		code = kerr.ProducerFenced.Code
	case rec.State == group.TxnOngoing:
		// Answered once the outcome is durable, as Kafka does: the
		// markers follow, and the producer's next transaction waits
		// for them (afterPrepared).
		_, code = c.prepareEnd(ctx, s, rec, commit, false)
	case rec.State == group.TxnCompleteCommit && commit, rec.State == group.TxnCompleteAbort && !commit:
		code = 0
	case rec.State == group.TxnPrepareCommit && commit, rec.State == group.TxnPrepareAbort && !commit:
		c.complete(s, rec)
		code = kerr.ConcurrentTransactions.Code
	default:
		code = kerr.InvalidTxnState.Code
	}
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
